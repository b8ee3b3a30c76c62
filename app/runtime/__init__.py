"""What the proxy and the use cases share at run time: the usage sink, raising an alert, the budget and
caller-key state the proxy's gates read, stored secrets, a revision's status, the supervisors' state
files. It imports only the core (app.models, app.db, app.settings, app.crypto, app.errors, the
generator's names); the proxy imports only it and the core; the services build on it."""
