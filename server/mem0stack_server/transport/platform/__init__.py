"""The mem0 Platform REST API: the routes mem0's ``MemoryClient`` calls, on their own port.

A second transport beside gRPC, in the same process and event loop: a Starlette
application (:mod:`.app`) served by uvicorn (:mod:`.serving`), whose handlers
(:mod:`.routes`) call the same application services as the gRPC servicer. Envoy routes
mem0's paths here, so clients switch by changing only their ``host``. The mapping of mem0's
ids onto our users is in :mod:`.scope`, of its filter grammar in :mod:`.filters`.
"""
