"""The HTTP front door: an OpenAI-compatible API, health and metrics, and a console.

Everything here is generic, for any app that serves HTTP from a component:

- ``api``: routes with validated bodies, keys, limits and an OpenAPI document; SSE.
- ``auth``: API keys and their rate limits.  ``errors``: OpenAI's error shape.
- ``ops``: health, readiness, Prometheus metrics and the live status view.
- ``console``: the web page showing the topology, replicas and methods.
- ``metrics``: the Prometheus exposition.  ``openai``: OpenAI's request and
  response shapes.  ``server``: uvicorn inside a genweave process.
- Slow and hostile clients: ``limits`` (the settings), ``protocol`` (what the
  server bounds before a request exists: headers, stalled answers),
  ``guard`` (the ASGI layers in front of an ``Api``, in order): ``body``
  (bodies read before admission), ``admission`` (connections and requests,
  per client and in all); their pure rules in ``pacing`` and ``clients``,
  the server's count of connections in ``connections``.

Which component serves which endpoint is the app's decision: the reference
app's gateway (``genweave.app.gateway``) is one example.
"""
