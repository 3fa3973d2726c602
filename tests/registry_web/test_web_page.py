"""The web page in a real browser (headless Chromium): browsing, searching, a
repository's tags and image, logging in, and deleting a tag only when allowed."""

from __future__ import annotations

import json
import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from webtest import ADMIN, ALICE, OCI_MANIFEST, image_config


@pytest.fixture(scope="module")
def images(registry):
    """Three repositories; team/webapp has two tags."""
    config = image_config("Serves the team's web app", ["/bin/sh -c #(nop) ADD file:1234 in /",
                                                         "RUN make install"])
    latest = registry.push_image("team/webapp", "latest", [b"layer one" * 300, b"layer two" * 50], config)
    v1 = registry.push_image("team/webapp", "v1", [b"old layer"],
                             image_config("Serves the team's web app", ["RUN make"]))
    registry.push_image("tools/linter", "2.0", [b"lint"], image_config("Checks code style", ["RUN lint"]))
    registry.push_image("alice/notes", "1", [b"notes"], image_config("Alice's notes", ["RUN notes"]),
                        auth=ALICE)
    # what a pull of latest transfers: config and layers
    latest_size = len(json.dumps(config).encode()) + 2700 + 450
    return {"latest": latest, "v1": v1, "latest_size": f"{latest_size / 1024:.1f} KiB"}


def wait(browser, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def listed(browser) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results li.repo > a")]


def test_front_page_lists_the_pushed_repositories(registry, images, browser):
    browser.get(registry.url + "/")
    assert sorted(listed(browser)) == ["alice/notes", "team/webapp", "tools/linter"]
    webapp = browser.find_element(By.XPATH, "//li[a='team/webapp']")
    assert "2 tags" in webapp.text
    assert "Serves the team's web app" in webapp.text


def test_search_box_finds_a_repository_as_you_type(registry, images, browser):
    browser.get(registry.url + "/")
    browser.find_element(By.ID, "q").send_keys("lint")
    wait(browser).until(lambda b: listed(b) == ["tools/linter"])
    assert browser.current_url.endswith("/?q=lint")


def test_search_box_submitted_searches_descriptions(registry, images, browser):
    browser.get(registry.url + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("style")
    box.submit()
    wait(browser).until(lambda b: "q=style" in b.current_url)
    assert listed(browser) == ["tools/linter"]


def test_repository_page_shows_tags_digests_and_pull_commands(registry, images, browser):
    browser.get(registry.url + "/")
    browser.find_element(By.LINK_TEXT, "team/webapp").click()
    wait(browser).until(ready.presence_of_element_located((By.ID, "tags")))
    assert browser.find_element(By.ID, "repository").text == "team/webapp"
    assert browser.find_element(By.ID, "description").text == "Serves the team's web app"
    rows = {row.get_attribute("data-tag"): row for row in browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")}
    assert set(rows) == {"latest", "v1"}
    for tag, row in sorted(rows.items()):
        digest = row.find_element(By.CSS_SELECTOR, ".digest code")
        assert digest.get_attribute("title") == images[tag]
        assert images[tag].startswith(digest.text)
        assert row.find_element(By.CSS_SELECTOR, ".platform").text == "linux/arm64/v8"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.find_element(By.CSS_SELECTOR, ".pushed").text)
        assert row.find_element(By.CSS_SELECTOR, ".pull-command").text == \
            f"docker pull {registry.address}/team/webapp:{tag}"
    assert rows["latest"].find_element(By.CSS_SELECTOR, ".size").text == images["latest_size"]


def test_repository_page_shows_layers_and_history_of_the_chosen_tag(registry, images, browser):
    browser.get(registry.url + "/r/team/webapp")
    assert browser.find_element(By.ID, "details").text == "team/webapp:latest"
    layers = browser.find_elements(By.CSS_SELECTOR, ".image .layers tbody tr")
    assert [row.find_elements(By.TAG_NAME, "td")[1].text for row in layers] == ["2.6 KiB", "450 B"]
    history = [row.find_elements(By.TAG_NAME, "td")[1].text
               for row in browser.find_elements(By.CSS_SELECTOR, ".image .history tbody tr")]
    assert history == ["/bin/sh -c #(nop) ADD file:1234 in /", "RUN make install"]
    browser.find_element(By.LINK_TEXT, "v1").click()
    wait(browser).until(lambda b: b.find_element(By.ID, "details").text == "team/webapp:v1")
    assert [row.text for row in browser.find_elements(By.CSS_SELECTOR, ".image .history code")] == ["RUN make"]


def test_anonymous_visitor_is_offered_no_delete_and_is_refused_one(registry, images, browser):
    browser.delete_all_cookies()
    browser.get(registry.url + "/r/tools/linter")
    assert browser.find_elements(By.CSS_SELECTOR, "#tags tr[data-tag='2.0']")
    assert not browser.find_elements(By.CSS_SELECTOR, "form.delete-tag")
    page = requests.get(registry.url + "/r/tools/linter")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is None  # no form at all; forge one with the token an anonymous visitor would get
    from registry_server.web.session import Sessions, load_or_create_key
    token = Sessions(load_or_create_key(registry.root)).csrf_token(None)
    refused = requests.post(registry.url + "/-/delete-tag", allow_redirects=False,
                            data={"repository": "tools/linter", "tag": "2.0", "csrf": token})
    assert refused.status_code == 401
    still = requests.get(f"{registry.url}/v2/tools/linter/manifests/2.0", auth=ADMIN,
                         headers={"Accept": OCI_MANIFEST})
    assert still.status_code == 200


def log_in(browser, registry, user: tuple[str, str], next_path: str) -> None:
    browser.delete_all_cookies()
    browser.get(registry.url + next_path)
    browser.find_element(By.ID, "login").click()
    browser.find_element(By.ID, "username").send_keys(user[0])
    browser.find_element(By.ID, "password").send_keys(user[1])
    browser.find_element(By.ID, "login-submit").click()


def test_wrong_password_is_refused_with_a_message(registry, images, browser):
    log_in(browser, registry, (ADMIN[0], "not the password"), "/")
    # the error appears only when the login request has been answered
    wait(browser).until(lambda b: b.find_elements(By.ID, "login-error"))
    assert browser.find_element(By.ID, "login-error").text == "Incorrect user name or password."
    assert not browser.find_elements(By.ID, "user")


def test_user_sees_no_delete_for_repositories_outside_their_namespace(registry, images, browser):
    log_in(browser, registry, ALICE, "/r/tools/linter")
    wait(browser).until(lambda b: b.find_elements(By.ID, "user"))
    assert browser.find_element(By.ID, "user").text == "alice"
    assert browser.current_url.endswith("/r/tools/linter")
    assert not browser.find_elements(By.CSS_SELECTOR, "form.delete-tag")
    browser.get(registry.url + "/r/alice/notes")
    assert browser.find_elements(By.CSS_SELECTOR, "form.delete-tag")


def test_admin_logs_in_and_deletes_a_tag(registry, images, browser):
    log_in(browser, registry, ADMIN, "/r/team/webapp")
    wait(browser).until(lambda b: b.find_elements(By.ID, "user"))
    row = browser.find_element(By.CSS_SELECTOR, "#tags tr[data-tag='v1']")
    row.find_element(By.CSS_SELECTOR, "form.delete-tag button").click()
    alert = wait(browser).until(ready.alert_is_present())
    assert alert.text == "Delete the tag v1?"
    alert.accept()
    wait(browser).until(lambda b: [r.get_attribute("data-tag") for r in
                                   b.find_elements(By.CSS_SELECTOR, "#tags tbody tr")] == ["latest"])
    gone = requests.get(f"{registry.url}/v2/team/webapp/manifests/v1", auth=ADMIN,
                        headers={"Accept": OCI_MANIFEST})
    assert gone.status_code == 404
    kept = requests.get(f"{registry.url}/v2/team/webapp/manifests/latest", auth=ADMIN,
                        headers={"Accept": OCI_MANIFEST})
    assert kept.status_code == 200
    browser.find_element(By.ID, "logout").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "login"))


def test_multi_platform_tag_lists_each_platform_and_the_summed_size(registry, images):
    children, total = [], 0
    for arch, payload in (("amd64", b"a" * 1000), ("arm64", b"b" * 3000)):
        config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        total += len(json.dumps(config).encode()) + len(payload)
        digest = registry.push_image("team/multi", f"only-{arch}", [payload], config)
        manifest = requests.get(f"{registry.url}/v2/team/multi/manifests/{digest}", auth=ADMIN,
                                headers={"Accept": OCI_MANIFEST}).content
        children.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                         "platform": {"os": "linux", "architecture": arch}})
    children.append({"mediaType": OCI_MANIFEST, "digest": children[0]["digest"], "size": children[0]["size"],
                     "platform": {"os": "unknown", "architecture": "unknown"}})  # an attestation
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    r = requests.put(f"{registry.url}/v2/team/multi/manifests/v1", data=index, auth=ADMIN,
                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 201, r.text
    page = requests.get(f"{registry.url}/r/team/multi?tag=v1").text
    row = re.search(r'<tr data-tag="v1".*?</tr>', page).group(0)
    assert '<td class="platform">linux/amd64, linux/arm64</td>' in row
    assert f'<td class="size">{total / 1024:.1f} KiB</td>' in row
    assert page.count('<section class="image"') == 2  # both platforms' layers, no attestation
