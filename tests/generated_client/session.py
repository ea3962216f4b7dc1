"""A scripted session through a Python client generated from the served OpenAPI document.

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
from batch_import_client.api.data import list_opportunities
from batch_import_client.api.jobs import (
    cancel_job,
    follow_job_events,
    get_job,
    get_job_error_file,
    list_job_errors,
)
from batch_import_client.api.uploads import upload_opportunities
from batch_import_client.models import (
    JobChangedEvent,
    JobResponse,
    JobState,
    JobView,
    JSendFail,
    KnownProblemCode,
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

# A problem code added to the server later reads as a plain string, not an exception.
later = Problem.from_dict({"code": "a_code_from_the_future", "column": None, "value": None, "message": "m"})
expect(later.code == "a_code_from_the_future", f"{later.code!r}")
ok("open problem codes")

# The list of what was imported.
listed = list_opportunities.sync(client=admin)
expect(isinstance(listed, OpportunityListResponse), f"list parsed as {type(listed)}")
expect(sorted(o.external_opp_id for o in listed.data) == ["GEN-1", "GEN-3"], "listed")
ok("list")

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
