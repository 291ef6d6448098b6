import base64

import cv2
import numpy as np
import pytest

from decart_widgets.errors import InvalidInputError
from decart_widgets.images import MAX_IMAGE_BYTES, load_image_b64, sniff_image


def _png() -> bytes:
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :8] = (255, 0, 0)
    return cv2.imencode(".png", img)[1].tobytes()


async def test_accepted_inputs_all_give_the_same_base64(tmp_path):
    data = _png()
    expected = base64.b64encode(data).decode()
    path = tmp_path / "ref.png"
    path.write_bytes(data)
    assert await load_image_b64(data) == expected
    assert await load_image_b64(bytearray(data)) == expected
    assert await load_image_b64(path) == expected
    assert await load_image_b64(str(path)) == expected
    assert await load_image_b64("data:image/png;base64," + expected) == expected
    assert await load_image_b64(expected) == expected
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert await load_image_b64(urlsafe) == expected


async def test_numpy_array_is_encoded():
    arr = np.zeros((10, 12, 3), np.uint8)
    out = base64.b64decode(await load_image_b64(arr))
    assert sniff_image(out) == "png"
    with pytest.raises(InvalidInputError, match="HxWx3"):
        await load_image_b64(np.zeros((10, 12), np.float32))


@pytest.mark.parametrize("scheme", ["file:///etc/passwd", "ftp://x/y.png", "s3://bucket/k.png", "blob:http://x/1"])
async def test_unsupported_url_schemes_rejected(scheme):
    with pytest.raises(InvalidInputError, match="scheme") as info:
        await load_image_b64(scheme)
    assert info.value.code == "INVALID_INPUT"


async def test_non_image_bytes_rejected():
    with pytest.raises(InvalidInputError, match="not an image"):
        await load_image_b64(b"hello, this is text")
    with pytest.raises(InvalidInputError, match="not an image"):
        await load_image_b64(base64.b64encode(b"plain text here").decode())


async def test_over_10_mb_rejected_before_sending(tmp_path):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES
    with pytest.raises(InvalidInputError, match="10 MB"):
        await load_image_b64(big)
    path = tmp_path / "big.png"
    path.write_bytes(big)
    with pytest.raises(InvalidInputError, match="10 MB"):
        await load_image_b64(path)
    with pytest.raises(InvalidInputError, match="10 MB"):
        await load_image_b64(base64.b64encode(big).decode())


@pytest.mark.parametrize("bad", [None, 12, 3.5, ["a"], {"a": 1}, "", "   ", "not base64 !!", "/no/such/file.png"])
async def test_wrong_types_and_junk(bad):
    with pytest.raises(InvalidInputError):
        await load_image_b64(bad)


async def test_http_url_is_fetched(aiohttp_image_server):
    url, data = aiohttp_image_server
    assert base64.b64decode(await load_image_b64(url)) == data


@pytest.fixture
async def aiohttp_image_server():
    from aiohttp import web

    data = _png()
    app = web.Application()
    async def handler(request):
        return web.Response(body=data, content_type="image/png")

    app.router.add_get("/ref.png", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/ref.png", data
    await runner.cleanup()
