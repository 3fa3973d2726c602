"""Pushing labelled images for the search tests."""

from __future__ import annotations

import hashlib
import json

import requests

from authtest import AuthServer

DESCRIPTION = "org.opencontainers.image.description"


def push_image(server: AuthServer, name: str, tag: str, description: str | None,
               user: str | None = "root", architecture: str = "amd64") -> dict:
    """A one-layer image whose config carries `description` as its label, pushed with
    Basic credentials of `user` (None: without); its descriptor."""
    auth = (user, server.passwords[user]) if user else None
    labels = {DESCRIPTION: description} if description is not None else {}
    config = json.dumps({"architecture": architecture, "os": "linux", "config": {"Labels": labels},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer of {name} for {architecture}".encode()
    descriptors = []
    for data, media_type in ((config, "application/vnd.oci.image.config.v1+json"),
                             (layer, "application/vnd.oci.image.layer.v1.tar")):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = requests.post(f"{server.url}/v2/{name}/blobs/uploads/", params={"digest": digest},
                          data=data, auth=auth)
        assert r.status_code == 201, r.text
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptors[0], "layers": descriptors[1:]}
    body = json.dumps(manifest).encode()
    r = requests.put(f"{server.url}/v2/{name}/manifests/{tag}", data=body, auth=auth,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    return {"mediaType": manifest["mediaType"], "digest": r.headers["Docker-Content-Digest"],
            "size": len(body), "platform": {"os": "linux", "architecture": architecture}}
