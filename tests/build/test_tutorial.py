"""The quickstart's image: nginx installed with apt from `debian:bookworm` (made by
scripts/base_images.py), served by `pybuild run` on the host network."""

import subprocess
import time
import urllib.request

import peers

DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y nginx
COPY index.html /var/www/html/index.html
CMD ["nginx", "-g", "daemon off;"]
"""


def test_tutorial_nginx_image_builds_and_serves_the_page(pybuild, debian_rootfs_tar, tmp_path):
    peers.import_base_image(pybuild, debian_rootfs_tar, peers.base_images.DEBIAN)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "index.html").write_text("<h1>Hello, World!</h1>\n")
    # RUN steps use the host network by default, with the host's resolv.conf.
    pybuild("-t", "mynginx", "--progress=plain", str(ctx), timeout=600)

    port = peers.free_port()
    listen = (f"sed -i 's/listen 80 /listen {port} /; s/listen \\[::\\]:80 /listen [::]:{port} /' "
              "/etc/nginx/sites-enabled/default && exec nginx -g 'daemon off;'")
    server = subprocess.Popen([*pybuild.command, "run", "--rm", "--network", "host", "mynginx", "sh", "-c", listen],
                              env=pybuild.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.1)
    finally:
        peers.stop_process(server)
    assert body == "<h1>Hello, World!</h1>\n", server.stdout.read().decode() if server.stdout else ""
