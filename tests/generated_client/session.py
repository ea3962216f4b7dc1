"""A scripted session through a Python client generated from the served OpenAPI document:
upload, events, failed rows, corrections, lists, export, keys and typed refusals.

Run by tests/api/generated_client.rs, which generates the client (openapi-python-client) into
a directory on PYTHONPATH as the package `batch_import_client` and sets BASE_URL, ADMIN_KEY
and MEMBER_KEY. Uses only what the generator made: its functions, its models and its parsed
answers. Prints `ok: <step>` after each step; any failure raises (exit status 1).
"""

import io
import json
import os
import sys

from batch_import_client import AuthenticatedClient
from batch_import_client.api.data import export_opportunities, list_opportunities
from batch_import_client.api.jobs import (
    cancel_job,
    create_job_correction,
    follow_job_events,
    get_job,
    get_job_error_file,
    list_job_errors,
    revert_job,
)
from batch_import_client.api.keys import create_api_key, list_api_keys, revoke_api_key
from batch_import_client.api.uploads import upload_opportunities
from batch_import_client.models import (
    ApiKeyState,
    CorrectedRow,
    CorrectedValues,
    CorrectionRequest,
    JobChangedEvent,
    JobResponse,
    JobState,
    JobView,
    JSendFail,
    KeyRole,
    KnownProblemCode,
    NewApiKey,
    OpportunitiesUploadForm,
    OpportunityListResponse,
    Problem,
)
from batch_import_client.types import File

BASE_URL = os.environ["BASE_URL"]
admin = AuthenticatedClient(base_url=BASE_URL, token=os.environ["ADMIN_KEY"], timeout=60)
member = AuthenticatedClient(base_url=BASE_URL, token=os.environ["MEMBER_KEY"], timeout=60)
stranger = AuthenticatedClient(base_url=BASE_URL, token="bik_not_a_key", timeout=60)


def ok(step):
    print(f"ok: {step}", flush=True)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def finished(job_id):
    """The job once it has ended (its event stream ends with its terminal state)."""
    follow_job_events.sync_detailed(job_id, client=admin)
    job = get_job.sync(job_id, client=admin).data
    expect(job.state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED), f"{job.state}")
    return job


def sse_events(text):
    """The events of a text/event-stream body, as dicts of their fields."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events


CSV = (
    "Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Opportunity Owner Email\n"
    "GEN-1,First,1000,2027-01-31,Proposal,owner@example.com\n"
    "GEN-2,Second,not a number,2027-02-28,Proposal,owner@example.com\n"
    "GEN-3,Third,3000,2027-03-31,Won,owner@example.com\n"
)

# Upload: the multipart form and the 202 answer are typed.
answer = upload_opportunities.sync_detailed(
    client=admin,
    body=OpportunitiesUploadForm(
        file=File(payload=io.BytesIO(CSV.encode()), file_name="gen.csv", mime_type="text/csv"),
        name="generated client",
    ),
)
expect(answer.status_code == 202, f"upload answered {answer.status_code}: {answer.content!r}")
expect(isinstance(answer.parsed, JobResponse), f"upload parsed as {type(answer.parsed)}")
job = answer.parsed.data
expect(isinstance(job, JobView), "the upload's data is a JobView")
ok("upload")

# Follow the events: the stream is text; each event's data is a JobView.
answer = follow_job_events.sync_detailed(job.id, client=admin)
expect(answer.status_code == 200, f"events answered {answer.status_code}")
expect(isinstance(answer.parsed, str), f"events parsed as {type(answer.parsed)}")
events = [JobChangedEvent.from_dict(e) for e in sse_events(answer.parsed) if e.get("event") == "job"]
expect(events, "at least one job event")
last = JobView.from_dict(json.loads(events[-1].data))
expect(last.state == JobState.COMPLETED, f"the last event's state is {last.state}")
ok(f"events ({len(events)} job events, last {last.state.value})")

# The finished job and its counts.
job = get_job.sync(job.id, client=admin).data
expect(job.state == JobState.COMPLETED, f"state {job.state}")
expect(
    (job.total_original_rows, job.total_imported_rows, job.total_error_rows) == (3, 2, 1),
    f"counts {job.total_original_rows}/{job.total_imported_rows}/{job.total_error_rows}",
)
expect(job.error_summary[0].code == KnownProblemCode.INVALID_AMOUNT, f"{job.error_summary}")
ok("job counts")

# The failed rows, as data and as the error CSV.
errors = list_job_errors.sync(job.id, client=admin).data
expect([e.line for e in errors] == [3], f"failed lines {[e.line for e in errors]}")
expect(errors[0].values["Amount"] == "not a number", f"{errors[0].values.to_dict()}")
expect(errors[0].problems[0].code == KnownProblemCode.INVALID_AMOUNT, f"{errors[0].problems}")
error_csv = get_job_error_file.sync(job.id, client=admin)
expect(isinstance(error_csv, str) and "GEN-2" in error_csv, f"error file {error_csv!r}")
ok("errors")

# Correct the failed row: a new job of the same kind imports it, a child of the first.
answer = create_job_correction.sync_detailed(
    job.id,
    client=admin,
    body=CorrectionRequest(
        rows=[CorrectedRow(line=3, values=CorrectedValues.from_dict({"Amount": "2000"}))]
    ),
)
expect(answer.status_code == 202 and isinstance(answer.parsed, JobResponse), f"correction: {answer.status_code} {answer.content!r}")
child = finished(answer.parsed.data.id)
expect(child.parent_job_id == job.id, f"parent {child.parent_job_id}")
expect((child.total_imported_rows, child.total_error_rows) == (1, 0), f"child counts {child.total_imported_rows}/{child.total_error_rows}")
parent = get_job.sync(job.id, client=admin).data
expect([c.id for c in parent.corrections] == [child.id], f"corrections {parent.corrections}")
answer = create_job_correction.sync_detailed(
    job.id,
    client=admin,
    body=CorrectionRequest(rows=[CorrectedRow(line=2, values=CorrectedValues.from_dict({"Amount": "1"}))]),
)
expect(answer.status_code == 400 and isinstance(answer.parsed, JSendFail), f"line 2 did not fail: {answer.status_code}")
ok("corrections")

# A problem code added to the server later reads as a plain string, not an exception.
later = Problem.from_dict({"code": "a_code_from_the_future", "column": None, "value": None, "message": "m"})
expect(later.code == "a_code_from_the_future", f"{later.code!r}")
ok("open problem codes")

# The list of what was imported.
listed = list_opportunities.sync(client=admin)
expect(isinstance(listed, OpportunityListResponse), f"list parsed as {type(listed)}")
expect(sorted(o.external_opp_id for o in listed.data) == ["GEN-1", "GEN-2", "GEN-3"], "listed")
ok("list")

# Filters and keyset pages: the next page's cursor is in the Link header.
answer = list_opportunities.sync_detailed(client=admin, q="second")
expect([o.external_opp_id for o in answer.parsed.data] == ["GEN-2"], "q=second")
seen, cursor = [], None
while True:
    kwargs = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
    answer = list_opportunities.sync_detailed(client=admin, **kwargs)
    expect(answer.status_code == 200, f"page: {answer.status_code} {answer.content!r}")
    seen += [o.external_opp_id for o in answer.parsed.data]
    link = answer.headers.get("link", "")
    if 'rel="next"' not in link:
        break
    next_url = link[link.index("<") + 1 : link.index(">")]
    cursor = dict(p.split("=", 1) for p in next_url.split("?", 1)[1].split("&"))["cursor"]
expect(seen == ["GEN-1", "GEN-2", "GEN-3"], f"cursor walk {seen}")
ok("filters and cursor pages")

# The export is the upload's own CSV: uploaded again, every row is unchanged.
exported = export_opportunities.sync(client=admin)
expect(isinstance(exported, str) and exported.lstrip("\ufeff").startswith("Opportunity ID,"), f"{exported!r:.200}")
answer = upload_opportunities.sync_detailed(
    client=admin,
    body=OpportunitiesUploadForm(
        file=File(payload=io.BytesIO(exported.encode()), file_name="export.csv", mime_type="text/csv")
    ),
)
again = finished(answer.parsed.data.id)
expect((again.total_original_rows, again.unchanged_rows) == (3, 3), f"re-upload {again.total_original_rows}/{again.unchanged_rows}")
ok("export round trip")

# API keys: made, listed, used, revoked; the secret is shown once.
answer = create_api_key.sync_detailed(client=admin, body=NewApiKey(label="generated", role=KeyRole.MEMBER))
expect(answer.status_code == 201, f"create key: {answer.status_code} {answer.content!r}")
made = answer.parsed.data
expect(made.secret.startswith("bik_") and made.role == KeyRole.MEMBER, f"{made.role}")
listed = list_api_keys.sync(client=admin).data
expect(made.id in [k.id for k in listed], "the new key is listed")
expect(all(not hasattr(k, "secret") for k in listed), "no secret in the list")
reader = AuthenticatedClient(base_url=BASE_URL, token=made.secret, timeout=60)
expect(get_job.sync_detailed(job.id, client=reader).status_code == 200, "the new key reads")
revoked = revoke_api_key.sync(made.id, client=admin).data
expect(revoked.state == ApiKeyState.REVOKED, f"{revoked.state}")
expect(get_job.sync_detailed(job.id, client=reader).status_code == 401, "the revoked key is refused")
ok("keys")

# Undo the correction: a dry run counts, the revert deletes the row it created, once.
answer = revert_job.sync_detailed(child.id, client=admin, validate_only=True)
expect(answer.status_code == 202 and isinstance(answer.parsed, JobResponse), f"dry revert: {answer.status_code} {answer.content!r}")
dry = finished(answer.parsed.data.id)
expect(dry.dry_run and (dry.deleted_rows, dry.restored_rows, dry.conflict_rows) == (1, 0, 0), f"dry revert counts {dry.deleted_rows}/{dry.restored_rows}/{dry.conflict_rows}")
answer = revert_job.sync_detailed(child.id, client=admin)
undo = finished(answer.parsed.data.id)
expect(undo.reverts_job_id == child.id and undo.deleted_rows == 1, f"revert {undo.reverts_job_id} {undo.deleted_rows}")
expect(get_job.sync(child.id, client=admin).data.reverted_by_job_id == undo.id, "reverted_by_job_id")
listed = list_opportunities.sync(client=admin)
expect(sorted(o.external_opp_id for o in listed.data) == ["GEN-1", "GEN-3"], "GEN-2 deleted")
answer = revert_job.sync_detailed(child.id, client=admin)
expect(answer.status_code == 409 and isinstance(answer.parsed, JSendFail), f"second revert: {answer.status_code}")
ok("revert")

# Refusals are typed JSend fails.
answer = cancel_job.sync_detailed(job.id, client=admin)
expect(answer.status_code == 409 and isinstance(answer.parsed, JSendFail), f"cancel: {answer.status_code}")
answer = get_job.sync_detailed(job.id, client=stranger)
expect(answer.status_code == 401 and isinstance(answer.parsed, JSendFail), f"stranger: {answer.status_code}")
answer = upload_opportunities.sync_detailed(
    client=member,
    body=OpportunitiesUploadForm(
        file=File(payload=io.BytesIO(CSV.encode()), file_name="gen.csv", mime_type="text/csv")
    ),
)
expect(answer.status_code == 403 and isinstance(answer.parsed, JSendFail), f"member: {answer.status_code}")
expect("administrator" in answer.parsed.data.message, answer.parsed.data.message)
ok("typed refusals")

print("session complete")
sys.exit(0)
