"""``sslterm serve``: the REST API (``rest``, under ``/api/v1``) and the web UI (``ui``) over the one service
facade. Adapters only: parse, call the facade, render, map errors; the app is built by ``app.create_app``."""
