from dataclasses import dataclass

from oci import mediatypes as mt
from oci.config import ImageConfig
from oci.image import Image
from oci.manifest import Descriptor, Manifest

D1 = "sha256:" + "1" * 64


@dataclass
class InMemoryImage:
    raw_manifest: Manifest
    raw_config: ImageConfig

    def digest(self) -> str:
        return D1

    def manifest(self) -> Manifest:
        return self.raw_manifest

    def config(self) -> ImageConfig:
        return self.raw_config

    def layers(self) -> list[Descriptor]:
        return list(self.raw_manifest.layers)


def test_a_class_with_the_four_methods_is_an_image():
    manifest = Manifest(config=Descriptor(mt.OCI_CONFIG, D1, 2), layers=[])
    assert isinstance(InMemoryImage(manifest, ImageConfig()), Image)


def test_a_class_missing_a_method_is_not_an_image():
    class NoLayers:
        def digest(self): ...
        def manifest(self): ...
        def config(self): ...

    assert not isinstance(NoLayers(), Image)
