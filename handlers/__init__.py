"""Lambda entry points and the dev server (DESIGN §4-6).

``api`` (Powertools REST resolver: every JSON route), ``stream`` (Starlette SSE app
under uvicorn behind the Lambda Web Adapter), ``worker`` (SQS jobs), ``local``
(``make dev``). ``_wiring`` builds the served App once per process.
"""
