"""The distribution protocol as a client; see docs/registry-client.md.

`protocol` holds the header and body rules as pure functions; `credentials` docker's
config.json and credential helpers; `auth` Basic and Bearer authorisation; `transport`
one registry over HTTP(S) with retries; `client` the API calls; `pull`, `push`, `copy`,
`delete`, `search` and `login` the operations the CLI offers."""
