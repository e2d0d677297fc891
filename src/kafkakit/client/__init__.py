"""kafkakit.client: the asyncio client core and the client classes built on it.

How it works (the core, shared by every client and by both the sync and the asyncio APIs):

- ``config.resolve_config(kind, kwargs)``: defaults per client kind ('producer', 'consumer', 'admin'),
  unknown keys -> ``UnrecognizedConfigError`` ("Unrecognized configs: {'foo'}"), bad values ->
  ``KafkaConfigurationError`` naming the key. Adds ``bootstrap_hosts`` (parsed bootstrap_servers).
- ``loop.LoopThread``: one background event loop thread per sync client: ``start()``,
  ``run(coro, timeout)``, ``submit(coro)``, ``call_soon_threadsafe(fn, *args)``, ``stop()``.
- ``connection.BrokerConnection``: one pipelined connection to one broker (ApiVersions handshake,
  negotiated versions via ``conn.version(api)``, ``conn.send(...) -> asyncio.Future`` without waiting,
  ``await conn.request(...)`` waiting for an in-flight slot, per-request timeouts, TLS, SASL).
- ``cluster.AsyncClient``: ``await bootstrap(timeout)``, ``cluster`` (an immutable ``ClusterMetadata``
  snapshot, safe to read from any thread), ``add_topics``/``set_topics``/``set_all_topics``,
  ``request_update()`` (coalesced refresh -> future), ``await refresh_metadata()``,
  ``await wait_for_topic(topic, timeout)``, ``await send(node_id, api_name, body, version=None,
  timeout_ms=None, channel="")``, ``await send_to_any(api_name, body)``, ``least_loaded_node()``,
  ``await get_connection(node_id, channel="")``, ``connection(node_id)``, ``bootstrap_connected()``,
  ``add_metadata_listener(fn)``, ``await close()``.

The core only ever runs on one event loop and never blocks it; the sync facades marshal calls onto
that loop (``LoopThread``) and the asyncio facades call it directly on the caller's loop.

What it must never do: import the client classes eagerly (``import kafkakit`` stays cheap).
"""
