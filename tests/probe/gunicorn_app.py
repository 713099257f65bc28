"""A Flask app for the pre-fork test, run by a real gunicorn with 3 workers.

Every worker starts with one entry in its tracked ``store``, so the test can
tell which workers a cleanup really reached. Token and rate limit come from
the environment (``MEMDASH_PROBE_TOKEN``, ``MEMDASH_PROBE_MIN_INTERVAL``);
pre-fork mode is detected from the gunicorn master.
"""

from flask import Flask

from memdash.probe import flask_blueprint, track_cache


class Store:
    def __init__(self) -> None:
        self.items = {"seed": "x" * 1000}

    def stats(self) -> dict:
        return {"size": len(self.items), "maxsize": None, "hits": 0, "misses": 0}

    def clear(self) -> None:
        self.items.clear()


store = track_cache(Store(), name="store")

app = Flask(__name__)
app.register_blueprint(flask_blueprint(), url_prefix="/memdash")


@app.get("/")
def index() -> str:
    return "ok"
