"""Checks the deployment files offline against the built binaries (scripts/check-deploy.sh runs it).

docker-compose.yml and deploy/k8s/*.yaml are parsed (YAML merge keys resolved); every command that
runs ktrdr or ktrdr-worker is run with --help appended, so a subcommand or flag the binaries do not
have fails here (clap refuses unknown ones before printing help). Workers must requeue on shutdown within a 30 s
grace period; every Deployment's pods need a selector that matches; KEDA triggers must query the
queue_depth view. Usage: check-deploy.py BIN_DIR
"""
import pathlib
import subprocess
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
bin_dir = pathlib.Path(sys.argv[1]).resolve()
problems = []


def check_command(where, command):
    if not command or command[0] not in ("ktrdr", "ktrdr-worker"):
        return
    run = subprocess.run([str(bin_dir / command[0]), *command[1:], "--help"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        problems.append(f"{where}: {' '.join(command)}: {run.stderr.strip().splitlines()[0]}")


def check_worker(where, command, grace_seconds):
    if command and command[0] == "ktrdr-worker":
        if "--on-shutdown" not in command or command[command.index("--on-shutdown") + 1] != "requeue":
            problems.append(f"{where}: a worker without --on-shutdown requeue")
        if grace_seconds != 30:
            problems.append(f"{where}: a worker's grace period is {grace_seconds}, not 30 s")


compose = yaml.safe_load((root / "docker-compose.yml").read_text())
for name, service in compose["services"].items():
    entrypoint = service.get("entrypoint") or []
    command = service.get("command") or []
    full = list(entrypoint) + list(command) if entrypoint and entrypoint[0].startswith("ktrdr") else command
    if entrypoint[:2] == ["sh", "-c"]:
        full = command[0].split("&&")[0].split()
    check_command(f"docker-compose.yml {name}", full)
    grace = {"30s": 30}.get(service.get("stop_grace_period"))
    check_worker(f"docker-compose.yml {name}", full, grace)
for needed in ("postgres", "migrate", "backend", "training-worker", "backtesting-worker",
               "research-worker", "grafana"):
    if needed not in compose["services"]:
        problems.append(f"docker-compose.yml: no {needed} service")

kinds = {}
scaled = []
for path in sorted((root / "deploy" / "k8s").glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        kinds.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
        where = f"{path.relative_to(root)} {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]
            if doc["kind"] == "Deployment":
                labels = doc["spec"]["template"]["metadata"]["labels"]
                selector = doc["spec"]["selector"]["matchLabels"]
                if any(labels.get(k) != v for k, v in selector.items()):
                    problems.append(f"{where}: selector {selector} does not match {labels}")
            for container in pod["containers"]:
                check_command(where, container.get("command"))
                check_worker(where, container.get("command"), pod.get("terminationGracePeriodSeconds"))
        if doc["kind"] == "ScaledObject":
            for trigger in doc["spec"]["triggers"]:
                if trigger["type"] != "postgresql" or "ktrdr.queue_depth" not in trigger["metadata"]["query"]:
                    problems.append(f"{where}: trigger is not a PostgreSQL queue-depth query")
            scaled.append((where, doc["spec"]["scaleTargetRef"]["name"]))
for where, target in scaled:
    if target not in kinds.get("Deployment", []):
        problems.append(f"{where}: scales {target}, which deploy/k8s does not deploy")
for kind in ("Deployment", "Job", "Service", "ScaledObject"):
    if kind not in kinds:
        problems.append(f"deploy/k8s: no {kind}")

for problem in problems:
    print(f"check-deploy: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print("check-deploy: docker-compose.yml and deploy/k8s/ are consistent with the binaries")
