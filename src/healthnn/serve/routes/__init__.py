"""The API's routers, one per area: :mod:`~healthnn.serve.routes.health` (liveness),
:mod:`~healthnn.serve.routes.models` (list, predict, explain), :mod:`~healthnn.serve.routes.deid`
(de-identification) and :mod:`~healthnn.serve.routes.web` (the clinicians' page)."""
