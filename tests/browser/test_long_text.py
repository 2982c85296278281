"""In the browser: a 10 KB unbroken TD title does not widen the catalog or the device page (issue 17)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ServerThread
from tests.frontend.fe_helpers import LONG_TITLE, build_text_world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def text_server(tmp_path_factory):
    from exchange.chain.connect import embedded_chain
    from frontend import create_app
    from frontend.services import Services

    tmp = tmp_path_factory.mktemp("longtext")
    chain = embedded_chain()
    world = build_text_world(chain, tmp)
    services = Services(chain, world.manifest, world.database_url, "http://127.0.0.1:9", tmp / "keystores")
    with ServerThread(create_app({"THINGBID_SERVICES": services, "TESTING": True})) as srv:
        yield srv, world
    chain.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_10kb_title_keeps_the_catalog_and_device_page_within_the_viewport(text_server, page_factory, width):
    srv, world = text_server
    page = page_factory()
    page.set_viewport_size({"width": width, "height": 900})
    for path in ("/catalog/", f"/catalog/device/0x{world.devices[1].device_id.hex()}"):
        page.goto(srv.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
    page.click("#td-raw summary")  # the unfolded TD and the full title wrap too
    page.click("#full-title summary")
    assert page.locator("#full-title .fulltext").inner_text() == LONG_TITLE
    assert page.evaluate("document.documentElement.scrollWidth") <= width
