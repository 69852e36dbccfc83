"""Building the app: the builder (arguments in, the bound Serve application out; `serve run` /
`serve deploy` configs name `serve_app.app.builder:app_builder`), what a replica runs beside its
gateway (`runtime`), the handles to the deployments (`handles`), and `switchyard deploy`
(`deploy`).
"""
