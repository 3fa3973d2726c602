"""A build's FROM image that the store lacks, pulled through the registry client (what
`pybuild build` hands the builder as its `pull_image`)."""

from __future__ import annotations

from oci.reference import parse_reference
from oci.store import Store
from registry_client.errors import NotFound
from registry_client.platforms import parse_platform
from registry_client.pull import pull
from registry_client.transport import Options


def pull_base_image(store: Store, reference: str, platform: str | None, options: Options | None = None) -> bool:
    """Pull `reference` into `store`; False when its registry has no such image (other
    failures, such as an unreachable registry, raise their one-line UserError)."""
    try:
        pull(parse_reference(reference), store, options, platform=parse_platform(str(platform)) if platform else None)
    except NotFound:
        return False
    return True
