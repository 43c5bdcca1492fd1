"""Jobs on this machine: catalog templates run as real subprocesses through a detached runner.

Each job is a folder (see layout.py). Status, pid, times and exit code are files written by the runner,
so any backend instance, e.g. after the bot restarted, reads the truth from disk.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import services
from services.catalog import JobCatalog, JobTemplate, check_required, format_input_value
from services.cloud.local._fs import (
    iso,
    parse_iso,
    pid_alive,
    process_start_ticks,
    read_json,
    utcnow,
    write_json,
)
from services.cloud.local._state import (
    CODE_DIR,
    FAILED,
    JOB_FILE,
    LOG_DIR,
    LOG_FILE,
    MLRUNS_DIR,
    OUTPUTS_DIR,
    QUEUED,
    RUNNER_LOG,
    STATUS_FILE,
    TERMINAL,
    accepts_jobs,
    read_status,
    update_status,
)
from services.cloud.local.common import (
    cancel_job_dir,
    compute_names,
    find_compute_file,
    job_dirs,
    load_compute,
)
from services.cloud.local.layout import Layout, find_child, not_found
from services.errors import AlreadyExists, BackendUnavailable, InvalidInput, InvalidState
from services.models import (
    TAG_REQUEST,
    TAG_SLACK_CHANNEL,
    TAG_SLACK_USER,
    TAG_TEMPLATE,
    JobInfo,
    JobRequest,
    JobStatus,
    MetricPoint,
    WorkspaceScope,
)
from services.naming import job_name_for, validate_compute, validate_job_name

TAG_RERUN_OF = "amlbot-rerun-of"
# A job whose runner never recorded itself this long after submit is reported Failed.
RUNNER_START_GRACE_SECONDS = 60.0

_TOKEN = re.compile(r"\$\[\[(?P<optional>.*?)\]\]|\$\{\{\s*(?P<ref>.*?)\s*\}\}", re.DOTALL)
_REF = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_REF_PARTS = re.compile(r"(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)")
_SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
_REPO_ROOT = Path(services.__file__).resolve().parent.parent


def render_command(template: JobTemplate, inputs: Mapping[str, object], outputs: Mapping[str, Path]) -> str:
    """The template's command with `${{inputs.x}}` and `${{outputs.y}}` replaced by shell-quoted values.

    `$[[ … ]]` blocks (Azure ML's optional-input syntax) are kept only when every input they use has a
    value. Every value is one inert shell word (shlex.quote), whatever it contains.
    """

    def value_of(ref: str) -> str | None:
        match = _REF_PARTS.fullmatch(ref)
        if match is None:
            raise InvalidInput(
                f"The template `{template.name}` uses `${{{{{ref}}}}}`; the local backend can only fill "
                "`${{inputs.<name>}}` and `${{outputs.<name>}}`."
            )
        group, key = match.groups()
        if group == "inputs":
            if key not in template.inputs:
                raise InvalidInput(f"The template `{template.name}` uses input `{key}` but does not declare it.")
            value = inputs.get(key)
            return None if value is None else shlex.quote(format_input_value(value))
        if key not in outputs:
            raise InvalidInput(f"The template `{template.name}` uses output `{key}` but does not declare it.")
        return shlex.quote(str(outputs[key]))

    def required(ref: str) -> str:
        value = value_of(ref)
        if value is None:
            key = ref.split(".", 1)[-1]
            raise InvalidInput(
                f"The template `{template.name}` needs a value for `{key}`.", hint=f"Add --set {key}=<value>."
            )
        return value

    def replace(match: re.Match[str]) -> str:
        optional = match.group("optional")
        if optional is None:
            return required(match.group("ref"))
        if any(value_of(ref) is None for ref in _REF.findall(optional)):
            return ""
        return _REF.sub(lambda m: required(m.group(1)), optional)

    return _TOKEN.sub(replace, template.command)


def _job_env(job_dir: Path, name: str) -> dict[str, str]:
    """A small environment for the job: the bot's secrets (Slack tokens, Azure credentials) stay out."""
    python_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([python_bin, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", str(job_dir)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MLFLOW_TRACKING_URI": (job_dir / MLRUNS_DIR).as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "AMLBOT_JOB_NAME": name,
        "AMLBOT_OUTPUTS_DIR": str(job_dir / OUTPUTS_DIR),
    }
    if "LC_ALL" in os.environ:
        env["LC_ALL"] = os.environ["LC_ALL"]
    return env


def _tail_lines(path: Path, lines: int, *, limit: int = 262144) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = text.splitlines()
    if size > limit and kept:
        kept = kept[1:]  # the first line may be cut
    return "\n".join(kept[-lines:]) if lines > 0 else ""


class LocalJobs:
    def __init__(self, layout: Layout, catalog: JobCatalog) -> None:
        self._layout = layout
        self._catalog = catalog
        self._runners: dict[int, subprocess.Popen[bytes]] = {}
        self._runners_lock = threading.Lock()

    # ------------------------------------------------------------------ public helpers (not in the port)
    def job_dir(self, name: str, *, scope: WorkspaceScope | None = None) -> Path:
        """The folder of job `name` (InvalidName for a name Azure would refuse, NotFound listing recent jobs)."""
        validate_job_name(name)
        workspace = self._layout.workspace_for(scope)
        found = find_child(Layout.jobs_dir(workspace), name, JOB_FILE)
        if found is None:
            recent = [i.name for i in self._infos(workspace)[:20]]
            raise not_found("job", name, recent, where=f" in workspace `{workspace.name}`")
        return found

    # ------------------------------------------------------------------ Jobs port
    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        template = self._catalog.get(request.template)
        inputs = self._catalog.resolve_inputs(template, request.overrides)
        return self._create(template, inputs, request, scope, extra_tags={})

    def rerun(
        self,
        name: str,
        *,
        request_id: str,
        requested_by: str,
        channel: str,
        overrides: Mapping[str, str] | None = None,
        scope: WorkspaceScope | None = None,
    ) -> JobInfo:
        old = read_json(self.job_dir(name, scope=scope) / JOB_FILE) or {}
        template = self._catalog.get(str(old.get("template")))
        old_inputs = old.get("inputs")
        inputs = {k: v for k, v in (old_inputs or {}).items() if k in template.inputs}
        inputs.update(self._catalog.validate_overrides(template, overrides or {}))
        check_required(template, inputs)
        request = JobRequest(
            template=template.name,
            request_id=request_id,
            requested_by=requested_by,
            channel=channel,
            compute=old.get("compute"),
            experiment=old.get("experiment"),
            display_name=old.get("display_name"),
        )
        return self._create(template, inputs, request, scope, extra_tags={TAG_RERUN_OF: str(old.get("name"))})

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        self._reap()
        return self._info(self.job_dir(name, scope=scope))

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        self._reap()
        infos = self._infos(self._layout.workspace_for(scope))
        if tag:
            key, has_value, value = tag.partition("=")
            infos = [i for i in infos if key in i.tags and (not has_value or i.tags[key] == value)]
        return infos[:limit] if limit is not None else infos

    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        job_dir = self.job_dir(name, scope=scope)
        self._info(job_dir)  # notices a runner that died, so the answer below is the truth
        if cancel_job_dir(job_dir, self._reap) is None:
            status = read_status(job_dir).get("status", "finished")
            raise InvalidState(
                f"`{job_dir.name}` already finished ({status}); there is nothing to cancel.",
                hint=f"Rerun it with `/aml job rerun {job_dir.name}` if you want it again.",
            )
        self._reap()
        return self._info(job_dir)

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str:
        return _tail_lines(self.job_dir(name, scope=scope) / LOG_DIR / LOG_FILE, lines)

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]:
        store = self.job_dir(name, scope=scope) / MLRUNS_DIR
        if not store.is_dir():
            return []
        # mlflow-skinny refuses file stores unless told (only read here; the job wrote it).
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        try:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=store.as_uri())
            points = []
            for experiment in client.search_experiments():
                for run in client.search_runs([experiment.experiment_id]):
                    for key in run.data.metrics:
                        for metric in client.get_metric_history(run.info.run_id, key):
                            points.append(
                                MetricPoint(
                                    key=metric.key,
                                    step=int(metric.step),
                                    value=float(metric.value),
                                    timestamp=datetime.fromtimestamp(metric.timestamp / 1000, UTC),
                                )
                            )
        except ImportError as err:
            raise BackendUnavailable(f"Reading metrics needs mlflow-skinny ({err}).") from None
        except Exception as err:  # MlflowException and file errors alike
            raise BackendUnavailable(f"Could not read the metrics of `{name}`: {err}") from None
        points.sort(key=lambda p: (p.key, p.step, p.timestamp or datetime.min.replace(tzinfo=UTC)))
        return points

    # ------------------------------------------------------------------ internals
    def _create(
        self,
        template: JobTemplate,
        inputs: Mapping[str, object],
        request: JobRequest,
        scope: WorkspaceScope | None,
        *,
        extra_tags: Mapping[str, str],
    ) -> JobInfo:
        name = job_name_for(request)
        workspace = self._layout.workspace_for(scope)
        jobs_dir = Layout.jobs_dir(workspace)
        job_dir = find_child(jobs_dir, name) or jobs_dir / name  # job names ignore case, like Azure
        existing = self._existing(job_dir, request)
        if existing is not None:
            return existing

        compute = request.compute or template.compute
        if not compute:
            raise InvalidInput(
                f"The template `{template.name}` names no compute.",
                hint="Add --compute <name>; computes here: " + ", ".join(compute_names(workspace)) + ".",
            )
        validate_compute(compute)
        record = load_compute(workspace, compute)
        compute = str(record["name"])
        if not accepts_jobs(record):
            raise InvalidState(
                f"The compute instance `{compute}` is {str(record.get('state', 'not running')).lower()}: "
                "jobs run only on a running instance.",
                hint=f"Start it with `/aml compute start {compute}`, then submit again.",
            )
        outputs = {o: job_dir / OUTPUTS_DIR / o for o in template.outputs}
        command = render_command(template, inputs, outputs)
        tags = {
            TAG_SLACK_USER: request.requested_by,
            TAG_SLACK_CHANNEL: request.channel,
            TAG_REQUEST: request.request_id,
            TAG_TEMPLATE: template.name,
            **extra_tags,
        }
        now = utcnow()
        spec: dict[str, Any] = {
            "name": name,
            "template": template.name,
            "template_path": str(template.path),
            "display_name": request.display_name or template.display_name or template.name,
            "experiment": request.experiment or template.experiment or template.name,
            "compute": compute,
            "computes_dir": str(find_compute_file(workspace, compute).parent),
            "requested_by": request.requested_by,
            "channel": request.channel,
            "request_id": request.request_id,
            "inputs": dict(inputs),
            "outputs": {k: str(v) for k, v in outputs.items()},
            "command": command,
            "argv": [_SHELL, "-c", command],
            "cwd": str(job_dir / CODE_DIR),
            "env": _job_env(job_dir, name),
            "log": str(job_dir / LOG_DIR / LOG_FILE),
            "tags": tags,
            "created_at": iso(now),
            "environment": template.environment,
        }
        jobs_dir.mkdir(parents=True, exist_ok=True)
        staging = jobs_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir()
            if template.code is not None:
                if not template.code.is_dir():
                    raise InvalidInput(f"The code folder of `{template.name}` ({template.code}) does not exist.")
                shutil.copytree(template.code, staging / CODE_DIR, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (staging / CODE_DIR).mkdir()
            for output in template.outputs:
                (staging / OUTPUTS_DIR / output).mkdir(parents=True)
            (staging / OUTPUTS_DIR).mkdir(exist_ok=True)
            (staging / LOG_DIR).mkdir()
            (staging / LOG_DIR / LOG_FILE).touch()
            write_json(staging / JOB_FILE, spec)
            write_json(
                staging / STATUS_FILE,
                {
                    "status": QUEUED,
                    "compute": compute,
                    "created_at": iso(now),
                    "history": [{"status": QUEUED, "at": iso(now)}],
                },
            )
            try:
                staging.rename(job_dir)  # atomic: of two identical submits, exactly one wins
            except OSError:
                existing = self._existing(job_dir, request)
                if existing is not None:
                    return existing
                raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        self._spawn(job_dir)
        return self._info(job_dir)

    def _existing(self, job_dir: Path, request: JobRequest) -> JobInfo | None:
        if not job_dir.exists():
            return None
        spec = read_json(job_dir / JOB_FILE) or {}
        if spec.get("request_id") == request.request_id:
            return self._info(job_dir)
        raise AlreadyExists(
            f"A job named `{job_dir.name}` already exists.", hint="Choose another name, or leave the name out."
        )

    def _spawn(self, job_dir: Path) -> None:
        env = _job_env(job_dir, job_dir.name)
        env["PYTHONPATH"] = str(_REPO_ROOT)
        try:
            with (job_dir / RUNNER_LOG).open("ab") as log:
                runner = subprocess.Popen(
                    [sys.executable, "-m", "services.cloud.local.runner", str(job_dir)],
                    cwd=job_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group; it outlives the bot
                    close_fds=True,
                )
        except OSError as err:
            update_status(job_dir, FAILED, error=f"Could not start the local job runner: {err}")
            return
        with self._runners_lock:
            self._runners[runner.pid] = runner
        update_status(job_dir, runner_pid=runner.pid, runner_start=process_start_ticks(runner.pid))

    def _reap(self) -> None:
        """Collect runners this process started that have exited (no zombies left behind)."""
        with self._runners_lock:
            for pid, runner in builtins.list(self._runners.items()):
                if runner.poll() is not None:
                    del self._runners[pid]

    def _infos(self, workspace: Path) -> builtins.list[JobInfo]:
        infos = []
        for job_dir in job_dirs(workspace):
            with contextlib.suppress(InvalidInput):
                infos.append(self._info(job_dir))
        epoch = datetime.min.replace(tzinfo=UTC)
        infos.sort(key=lambda i: (i.created_at or epoch, i.name), reverse=True)
        return infos

    def _info(self, job_dir: Path) -> JobInfo:
        spec = read_json(job_dir / JOB_FILE)
        if spec is None:
            raise InvalidInput(f"The job folder {job_dir} has no readable {JOB_FILE}.")
        status = self._checked_status(job_dir)
        return JobInfo(
            name=str(spec["name"]),
            display_name=spec.get("display_name"),
            status=JobStatus.parse(status.get("status")),
            compute=spec.get("compute"),
            experiment=spec.get("experiment"),
            created_by=spec.get("requested_by"),
            created_at=parse_iso(spec.get("created_at")),
            started_at=parse_iso(status.get("started_at")),
            ended_at=parse_iso(status.get("ended_at")),
            studio_url=job_dir.as_uri(),
            services=(),
            error=status.get("error"),
            tags=dict(spec.get("tags") or {}),
            output_uri=str(job_dir / OUTPUTS_DIR),
            template=spec.get("template"),
        )

    def _checked_status(self, job_dir: Path) -> dict[str, Any]:
        """The status file, after marking Failed a job whose runner is gone without saying how it ended."""
        status = read_status(job_dir)
        if status.get("status") in TERMINAL:
            return status
        runner_pid = status.get("runner_pid")
        reason = None
        if isinstance(runner_pid, int):
            if not pid_alive(runner_pid, status.get("runner_start")):
                reason = "The local job runner stopped unexpectedly (was the machine restarted?)."
        else:
            created = parse_iso(status.get("created_at"))
            if created is not None and (utcnow() - created).total_seconds() > RUNNER_START_GRACE_SECONDS:
                reason = "The local job runner never started."
        if reason is not None:
            # re-read under the lock: the runner may have just written the real ending
            updated = update_status(job_dir, FAILED, error=reason)
            return updated if updated is not None else read_status(job_dir)
        return status
