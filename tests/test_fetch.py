"""Tests for recnn_helpers.fetch: the MovieLens zips, served from a local HTTP server.

Each zip is built here in the official layout (ML-1M's ``ml-1m/ratings.dat``, ML-20M's
``ml-20m/ratings.csv``, ML-10M's ``ml-10M100K/``) from ``synthetic.write_movielens`` files,
and the pinned checksum is patched to the test zip's. Nothing reaches a remote host.
"""

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import recnn_helpers.data as data_module
from recnn_helpers import fetch
from recnn_helpers.data import load_movielens
from recnn_helpers.fetch import fetch_movielens
from recnn_helpers.synthetic import write_movielens

LAYOUTS = {"ml-1m": ("ml-1m", "ml-1m"), "ml-20m": ("ml-20m", "ml-20m"),
           "ml-10m": ("ml-1m", "ml-10M100K")}  # fmt: skip
"""Release -> (synthetic layout, the folder inside the official zip)."""


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    """Release -> the bytes of a small zip in that release's official layout."""
    out = {}
    for name, (layout, inner) in LAYOUTS.items():
        src = tmp_path_factory.mktemp("src") / layout
        write_movielens(src, layout, num_users=30, num_items=60, num_ratings=900)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{inner}/", "")
            for fname in fetch.REQUIRED_FILES[name]:
                archive.write(src / fname, f"{inner}/{fname}")
            archive.writestr(f"{inner}/README.txt", "Summary\n")
        out[name] = buffer.getvalue()
    return out


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_short:  # announce the whole zip, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve({"ml-1m.zip": bytes}, cut_short=False) -> (base URL, list of requested paths)."""
    servers = []

    def start(files, cut_short=False):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.files, server.cut_short, server.requests = files, cut_short, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/datasets", server.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def downloads_on(monkeypatch):
    monkeypatch.delenv("RECNN_NO_DOWNLOAD", raising=False)
    monkeypatch.delenv("RECNN_MOVIELENS_URL", raising=False)


def pin(monkeypatch, name, body):
    monkeypatch.setitem(fetch.MOVIELENS_SHA256, name, hashlib.sha256(body).hexdigest())


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/datasets"


def everything_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", ["ml-1m", "ml-20m"])
@pytest.mark.parametrize("target", ["absent", "empty"])
def test_load_fetches_a_missing_release(tmp_path, monkeypatch, serve, zips, capsys, name, target):
    pin(monkeypatch, name, zips[name])
    url, requests = serve({f"{name}.zip": zips[name]})
    monkeypatch.setenv("RECNN_MOVIELENS_URL", url)
    if target == "empty":
        (tmp_path / name).mkdir()
    ml = load_movielens(name, data_dir=tmp_path)
    assert ml.name == name and len(ml.ratings) == 900
    assert requests == [f"/datasets/{name}.zip"]
    files = fetch.REQUIRED_FILES[name]
    assert everything_under(tmp_path) == sorted([name, *(f"{name}/{f}" for f in files),
                                                 f"{name}/README.txt"])  # fmt: skip
    terms = capsys.readouterr().out
    for words in ("research use", "redistributed", "Harper and Joseph A. Konstan",
                  "The MovieLens Datasets: History and Context", fetch.README[name]):  # fmt: skip
        assert words in terms
    load_movielens(name, data_dir=tmp_path)
    assert len(requests) == 1, "a fetched release is not downloaded again"


def test_zip_folder_is_renamed_to_the_release(tmp_path, monkeypatch, serve, zips):
    # ml-10m.zip unpacks to ml-10M100K/; it has no pinned checksum, so pin the test zip's.
    pin(monkeypatch, "ml-10m", zips["ml-10m"])
    url, _ = serve({"ml-10m.zip": zips["ml-10m"]})
    assert fetch_movielens("ml-10m", tmp_path / "ml-10m", base_url=url) == tmp_path / "ml-10m"
    assert (tmp_path / "ml-10m" / "ratings.dat").is_file()
    assert everything_under(tmp_path)[0] == "ml-10m"
    assert len(load_movielens("ml-10m", data_dir=tmp_path).ratings) == 900


def test_base_url_argument_wins_over_the_environment(tmp_path, monkeypatch, serve, zips):
    pin(monkeypatch, "ml-1m", zips["ml-1m"])
    url, requests = serve({"ml-1m.zip": zips["ml-1m"]})
    monkeypatch.setenv("RECNN_MOVIELENS_URL", closed_port_url())
    fetch_movielens("ml-1m", tmp_path / "ml-1m", base_url=url + "/")
    assert requests == ["/datasets/ml-1m.zip"]


def test_default_url_is_grouplens(tmp_path, monkeypatch):
    seen = []

    def offline(url, **kwargs):
        seen.append(url)
        raise OSError("offline")

    monkeypatch.setattr(fetch.pooch, "retrieve", offline)
    with pytest.raises(FileNotFoundError):
        fetch_movielens("ml-1m", tmp_path / "ml-1m")
    assert seen == ["https://files.grouplens.org/datasets/movielens/ml-1m.zip"]


def test_wrong_checksum_unpacks_nothing(tmp_path, monkeypatch, serve, zips):
    expected = hashlib.sha256(b"the official zip").hexdigest()
    monkeypatch.setitem(fetch.MOVIELENS_SHA256, "ml-1m", expected)
    url, requests = serve({"ml-1m.zip": zips["ml-1m"]})
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError) as err:
        fetch_movielens("ml-1m", data_dir / "ml-1m", base_url=url)
    message = str(err.value)
    assert expected in message and hashlib.sha256(zips["ml-1m"]).hexdigest() in message
    assert str(data_dir / "ml-1m") in message and "Nothing was unpacked" in message
    assert requests == ["/datasets/ml-1m.zip"]
    assert everything_under(data_dir) == [], "no download, no temporary folder, no data"


@pytest.mark.parametrize("failure", ["cut short", "connection refused"])
def test_failed_download_says_what_to_do_and_writes_nothing(
    tmp_path, monkeypatch, serve, zips, failure
):
    pin(monkeypatch, "ml-20m", zips["ml-20m"])
    if failure == "cut short":
        url, requests = serve({"ml-20m.zip": zips["ml-20m"]}, cut_short=True)
    else:
        url, requests = closed_port_url(), []
    monkeypatch.setenv("RECNN_MOVIELENS_URL", url)
    data_dir = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as err:
        load_movielens("ml-20m", data_dir=data_dir)
    message = str(err.value)
    folder = data_dir / "ml-20m"
    for words in ("ml-20m: ratings.csv, movies.csv not found", f"{url}/ml-20m.zip failed",
                  "Download ml-20m.zip from", data_module.GROUPLENS_PAGE,
                  str(folder / "ratings.csv"), "RECNN_NO_DOWNLOAD=1"):  # fmt: skip
        assert words in message
    assert requests == ([] if failure == "connection refused" else ["/datasets/ml-20m.zip"])
    assert everything_under(data_dir) == [], "no partial zip, no temporary folder, no data"


def test_a_users_folder_is_never_touched(tmp_path, monkeypatch, serve, zips):
    pin(monkeypatch, "ml-1m", zips["ml-1m"])
    url, requests = serve({"ml-1m.zip": zips["ml-1m"]})
    monkeypatch.setenv("RECNN_MOVIELENS_URL", url)
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    with pytest.raises(FileExistsError) as err:
        fetch_movielens("ml-1m", folder)
    assert f"{folder} holds notes.txt" in str(err.value) and "nothing was" in str(err.value)
    # The loader leaves a folder with anything in it to its own error, which names the files.
    with pytest.raises(FileNotFoundError, match="ratings.dat, movies.dat not found"):
        load_movielens("ml-1m", data_dir=tmp_path)
    assert requests == []
    assert everything_under(tmp_path) == ["ml-1m", "ml-1m/notes.txt"]
    assert (folder / "notes.txt").read_text() == "my notes\n"


def test_no_download_never_contacts_the_server(tmp_path, monkeypatch, serve, zips):
    pin(monkeypatch, "ml-1m", zips["ml-1m"])
    url, requests = serve({"ml-1m.zip": zips["ml-1m"]})
    monkeypatch.setenv("RECNN_MOVIELENS_URL", url)
    monkeypatch.setenv("RECNN_NO_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError) as err:
        load_movielens("ml-1m", data_dir=tmp_path)
    assert data_module.GROUPLENS_PAGE in str(err.value) and str(tmp_path / "ml-1m") in str(
        err.value
    )
    assert requests == []
    assert everything_under(tmp_path) == []


@pytest.mark.parametrize("name", ["ml-10m", "ml-32m", "ml-latest"])
def test_releases_without_a_pinned_checksum_are_not_fetched(tmp_path, monkeypatch, serve, name):
    url, requests = serve({})
    monkeypatch.setenv("RECNN_MOVIELENS_URL", url)
    with pytest.raises(FileNotFoundError) as err:
        load_movielens(name, data_dir=tmp_path)
    message = str(err.value)
    assert fetch.NOT_FETCHED[name] in message
    assert f"Download {name}.zip from {data_module.GROUPLENS_PAGE}" in message
    assert str(tmp_path / name / fetch.REQUIRED_FILES[name][0]) in message
    assert requests == [] and everything_under(tmp_path) == []
    if name == "ml-10m":
        assert f"mv ml-10M100K {name}" in message


def test_release_table_matches_the_loader():
    releases = {*data_module.DAT_RELEASES, *data_module.CSV_RELEASES}
    assert set(fetch.REQUIRED_FILES) == releases
    assert set(fetch.MOVIELENS_SHA256) | set(fetch.NOT_FETCHED) == releases
    assert not set(fetch.MOVIELENS_SHA256) & set(fetch.NOT_FETCHED)
    for name in data_module.DAT_RELEASES:
        assert fetch.REQUIRED_FILES[name] == ("ratings.dat", "movies.dat")
    assert fetch.GROUPLENS_PAGE == data_module.GROUPLENS_PAGE
    assert all(len(sha) == 64 and int(sha, 16) >= 0 for sha in fetch.MOVIELENS_SHA256.values())
