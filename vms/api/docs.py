"""The introduction of the OpenAPI document (rendered at /api/v1/docs/)."""

DESCRIPTION = """
Virtual machines on AWS EC2, GCP Compute Engine and Azure, from one API.

## Authentication
Send `Authorization: Token <key>` with every request. Get a key with `POST /api/v1/auth/token/`
(username and password), or create, name and revoke keys on the dashboard's **API tokens** page
(`/api-tokens/`). A signed-in browser session works too; its unsafe requests need the `X-CSRFToken` header.

## What you may see and do
You see the workspaces you are a member of (`GET /api/v1/workspaces/` shows your role) and their VMs.
viewer: read; operator: + start, stop, restart; admin and owner: + create, edit, terminate, delete.
Every VM lists the lifecycle actions *you* may take on it now in `allowed_actions`.
A VM or workspace you may not see is a **404**, never a 403, so ids of other workspaces cannot be confirmed.

## Lifecycle
start from stopped | error; stop from running; restart from running | stopped; terminate from anything but
terminated | terminating; delete only once terminated (or when the VM never got a cloud instance).
An action returns the VM in its transitional status (`starting`, `stopping`, `terminating`); the status poller
confirms the final one (`status_checked_at`, `status_source`).

## Errors
Every error has one shape:

    {"error": {"code": "invalid_transition", "message": "Cannot stop a VM that is stopped.",
               "current_status": "stopped", "allowed_actions": ["start", "restart", "terminate"],
               "request_id": "9b2f…"}}

| status | code | when |
| --- | --- | --- |
| 400 | `invalid` | bad input; `fields` maps each field to its messages |
| 401 | `not_authenticated`, `authentication_failed`, `invalid_credentials` | no or bad token / password |
| 403 | `permission_denied` | your role does not allow it (or a session request without CSRF token) |
| 404 | `not_found` | no such object, or not yours to see |
| 409 | `invalid_transition` | not allowed from the VM's status: `current_status`, `allowed_actions` |
| 409 | `cloud_conflict` | the cloud refused because of the instance's state: `current_status` |
| 422 | `idempotency_key_reused` | an `Idempotency-Key` used before with another body |
| 429 | `throttled` | too many requests from you; wait `Retry-After` seconds |
| 502 | `cloud_error`, `cloud_instance_not_found` | a cloud call failed; `message` is the cloud's reason (an instance the cloud no longer has: the VM is now `terminated`) |
| 503 | `cloud_unavailable`, `cloud_throttled` | the cloud is down or throttling SkyClust; retry after `Retry-After` |

A cloud that throttles SkyClust is a 503, not a 429: 429 always means *you* sent too many requests.

## Lists
`limit` (1 to 500, default 50) and `offset`; the response has `count` (the total), `next`, `previous`, `results`.

## Creating without duplicates
Send an `Idempotency-Key` header with `POST /api/v1/vms/`: repeating the request with the same key and body
returns the VM made the first time (200, header `Idempotent-Replayed: true`) instead of making another.
"""
