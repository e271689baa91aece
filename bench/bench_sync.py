"""Status sync: API calls and wall time for 2,000 VMs over the three sandboxes, side by side with
- a per-VM baseline (one get per VM and one row write per change, as the seed's SyncVMStatus did), and
- Apache Libcloud's EC2 `list_nodes` on the same moto data;
then the app-side CPU per VM of the mapping/diff at 10,000 VMs (list results already in memory).

Run: `python -m bench.bench_sync` (about a minute). Prints measurements and ratios; asserts nothing.
"""
from __future__ import annotations

import math
import time
import uuid
from datetime import timedelta

from bench.common import report, setup_django

AWS_REGIONS = {"us-east-1": 600, "eu-west-1": 200}
GCP_VMS = 600
AZURE_VMS = 600
STOPPED_SHARE = 10  # every 10th instance is stopped behind SkyClust's back before each sync
CPU_VMS = 10_000


def main() -> None:
    setup_django("bench_sync")
    from vms.sandbox import start_all

    with start_all(transition_seconds=0.0) as sandboxes:
        world = build_world(sandboxes)
        results = measure_sync(world, sandboxes)
        results |= measure_libcloud(sandboxes)
    results |= measure_cpu()
    results |= measure_full_cycle()
    print_results(world, results)


# -- data ---------------------------------------------------------------------------------------------

def build_world(sandboxes) -> dict:
    """Accounts on the three sandboxes, 2,000 tagged instances, and a VM row for each (all running)."""
    from django.contrib.auth import get_user_model
    from moto.ec2.models import ec2_backends

    from vms.models import VM
    from vms.providers import registry
    from vms.providers.base import VM_ID_TAG, InstanceSpec
    from workspaces import services as workspace_services

    owner = get_user_model().objects.create_user("bench-owner", password="bench-password-1")
    workspace = workspace_services.workspace_create(name="Bench", actor=owner)
    accounts, rows = {}, []
    for provider in ("aws", "gcp", "azure"):
        config = sandboxes.account_config(provider, f"{provider}-bench")
        accounts[provider] = workspace_services.account_create(
            workspace=workspace, provider=provider, name=config.name, actor=None, authorize=False,
            credentials=config.credentials, settings=config.settings, endpoint_url=config.endpoint_url,
        )

    def row(provider, vm_id, instance_id, region, zone, instance_type, image_id):
        return VM(id=vm_id, name=f"{provider}-{instance_id}"[:100], workspace=workspace, account=accounts[provider],
                  provider=provider, instance_id=instance_id, status="running", instance_type=instance_type,
                  region=region, zone=zone, image_id=image_id, cpus=2, memory_mb=1024, storage_gb=10, status_source="poll")

    aws = registry.adapter_for(sandboxes.account_config("aws", "seed"))
    for region, count in AWS_REGIONS.items():
        client = aws._client(region)
        instances = client.run_instances(ImageId="ami-0c7217cdde317cfec", InstanceType="t3.micro", MinCount=count, MaxCount=count)["Instances"]
        backend = ec2_backends[sandboxes.aws.account_id][region]
        for item in instances:
            vm_id = uuid.uuid4()
            backend.create_tags([item["InstanceId"]], {VM_ID_TAG: str(vm_id)})  # one distinct tag each, without HTTP
            rows.append(row("aws", vm_id, item["InstanceId"], region, item["Placement"]["AvailabilityZone"], "t3.micro", "ami-0c7217cdde317cfec"))

    zones = ("us-central1-a", "us-central1-b", "europe-west1-b")
    sandboxes.gcp.seed_instances(GCP_VMS, zones=zones, name_prefix="bench")
    gcp = registry.adapter_for(sandboxes.account_config("gcp", "seed"))
    for instance in gcp.list_managed(""):
        rows.append(row("gcp", uuid.UUID(instance.vm_id), instance.instance_id, instance.region, instance.zone, "e2-micro",
                        "projects/debian-cloud/global/images/family/debian-12"))

    azure = registry.adapter_for(sandboxes.account_config("azure", "seed"))
    for index in range(AZURE_VMS):
        vm_id = uuid.uuid4()
        instance = azure.create(InstanceSpec(vm_id=str(vm_id), name=f"az-{index}", instance_type="Standard_B1s",
                                             region="eastus", image_id="Canonical:ubuntu-24_04-lts:server:latest", storage_gb=30))
        rows.append(row("azure", vm_id, instance.instance_id, "eastus", "", "Standard_B1s", "Canonical:ubuntu-24_04-lts:server:latest"))
    VM.objects.bulk_create(rows, batch_size=500)
    return {"accounts": accounts, "adapters": {"aws": aws, "gcp": gcp, "azure": azure}, "vms": len(rows)}


def stop_every_tenth(world, sandboxes) -> int:
    """Stop every 10th instance directly in the sandboxes (SkyClust is not told); returns how many."""
    from vms.models import VM

    stopped = list(VM.objects.order_by("id").values_list("provider", "instance_id", "region", "zone"))[::STOPPED_SHARE]
    from vms.providers.base import InstanceRef

    for provider, instance_id, region, zone in stopped:
        world["adapters"][provider].stop(InstanceRef(instance_id, region, zone))
    return len(stopped)


def reset_rows_and_counters(world, sandboxes) -> None:
    from vms.models import VM, SyncTarget
    from vms.providers.base import InstanceRef
    from workspaces.models import AuditEvent

    for provider, instance_id, region, zone in VM.objects.filter(status="stopped").values_list("provider", "instance_id", "region", "zone"):
        world["adapters"][provider].start(InstanceRef(instance_id, region, zone))
    VM.objects.update(status="running", status_checked_at=None)
    AuditEvent.objects.filter(source="sync").delete()
    SyncTarget.objects.all().delete()
    for emulator in sandboxes.all().values():
        emulator.calls.clear()


def calls(sandboxes) -> dict[str, int]:
    return {provider: sum(emulator.calls.values()) for provider, emulator in sandboxes.all().items()}


# -- measurements -------------------------------------------------------------------------------------

def measure_sync(world, sandboxes) -> dict:
    from vms import cloud, services
    from vms.models import VM
    from vms.providers.base import NotFound
    from vms.sync import Poller

    results = {}
    for name in ("batched", "per_vm"):
        reset_rows_and_counters(world, sandboxes)
        changed = stop_every_tenth(world, sandboxes)
        for emulator in sandboxes.all().values():
            emulator.calls.clear()
        cloud.clear_cache()
        start = time.perf_counter()
        if name == "batched":
            cycle = Poller(workers=4).run_once(all_targets=True)
            results["targets"] = [(t.target, t.listed, t.error) for t in cycle.targets]
        else:
            # the seed's SyncVMStatus: every VM, one status call each, one row write per change
            for vm in VM.objects.select_related("account", "workspace").iterator():
                try:
                    status = cloud.adapter_for_vm(vm).get(vm.ref).status
                except NotFound:
                    status = "terminated"
                if status != vm.status:
                    services.vm_update_status(vm_id=vm.pk, status=status)
        results[f"{name}_seconds"] = time.perf_counter() - start
        results[f"{name}_calls"] = calls(sandboxes)
        results[f"{name}_correct"] = VM.objects.filter(status="stopped").count() == changed
    return results


def _fit_libcloud_to_moto() -> None:
    """moto answers in the XML namespace ".../doc/2016-11-15" without the trailing slash EC2 sends, and libcloud
    finds no element under its own: use moto's. Libcloud's requests, signing and parsing are otherwise unchanged."""
    from libcloud.compute.drivers import ec2

    ec2.NAMESPACE = ec2.NAMESPACE.rstrip("/")


def measure_libcloud(sandboxes) -> dict:
    from libcloud.compute.drivers.ec2 import EC2NodeDriver

    from vms.providers import registry
    from vms.sandbox.aws import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY

    _fit_libcloud_to_moto()
    port = int(sandboxes.aws.url.rsplit(":", 1)[1])
    ours = registry.adapter_for(sandboxes.account_config("aws", "ours"))
    results = {"libcloud_nodes": 0, "libcloud_seconds": 0.0, "ours_aws_seconds": 0.0, "ours_aws_instances": 0}
    for region in AWS_REGIONS:
        driver = EC2NodeDriver(SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY, secure=False, host="127.0.0.1", port=port, region=region,
                               signature_version="4")
        sandboxes.aws.calls.clear()
        start = time.perf_counter()
        results["libcloud_nodes"] += len(driver.list_nodes())
        results["libcloud_seconds"] += time.perf_counter() - start
        results["libcloud_calls"] = results.get("libcloud_calls", 0) + sum(sandboxes.aws.calls.values())
        list(ours.list_managed(region))  # warm the client, as libcloud's driver is warm after its first call
        sandboxes.aws.calls.clear()
        start = time.perf_counter()
        results["ours_aws_instances"] += len(list(ours.list_managed(region)))
        results["ours_aws_seconds"] += time.perf_counter() - start
        results["ours_aws_calls"] = results.get("ours_aws_calls", 0) + sum(sandboxes.aws.calls.values())
    return results


def measure_cpu() -> dict:
    """The mapping/diff of one target of 10,000 VMs with the list already in memory: µs per VM."""
    from django.utils import timezone

    from vms.providers.base import CloudInstance
    from vms.state import VMStatus
    from vms.sync_diff import Row, diff

    now = timezone.now()
    long_ago = now - timedelta(hours=1)
    rows, instances = [], []
    for index in range(CPU_VMS):
        vm_id = uuid.uuid4()
        status = VMStatus.STOPPED if index % 100 == 0 else VMStatus.RUNNING  # 1% changed
        rows.append(Row(vm_id, VMStatus.RUNNING, f"i-{index:08x}", "us-east-1a", "us-east-1", "poll", long_ago, None))
        instances.append(CloudInstance(f"i-{index:08x}", status, status.value, "us-east-1", "us-east-1a", str(vm_id)))
    timings = []
    for _ in range(7):
        start = time.process_time()
        result = diff(rows, instances, observed_at=now, now=now, action_grace=timedelta(seconds=15), pending_grace=timedelta(seconds=30))
        timings.append(time.process_time() - start)
    assert len(result.changes) == CPU_VMS // 100 and len(result.confirmed) == CPU_VMS - CPU_VMS // 100
    return {"cpu_us_per_vm": 1e6 * sorted(timings)[len(timings) // 2] / CPU_VMS}


def measure_full_cycle() -> dict:
    """One target of 10,000 VMs end to end without the network: read the rows, diff, bulk-write 1% changes
    with their audit rows and events, stamp the other 99%. An in-memory adapter stands in for the cloud."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from vms import cloud, sync, sync_targets
    from vms.models import VM, SyncTarget
    from vms.providers import registry
    from vms.providers.base import CloudInstance
    from vms.state import VMStatus
    from workspaces import services as workspace_services

    owner = get_user_model().objects.create_user("cpu-owner", password="bench-password-1")
    workspace = workspace_services.workspace_create(name="CPU", actor=owner)
    account = workspace_services.account_create(workspace=workspace, provider="aws", name="cpu", actor=None, authorize=False)
    rows, listed = [], []
    for index in range(CPU_VMS):
        vm = VM(name=f"cpu-{index}", workspace=workspace, account=account, provider="aws", instance_id=f"i-cpu{index:08x}", zone="us-east-1a",
                status="running", instance_type="t3.micro", region="us-east-1", image_id="ami-0c7217cdde317cfec",
                cpus=2, memory_mb=1024, storage_gb=8, status_source="poll")
        rows.append(vm)
        status = VMStatus.STOPPED if index % 100 == 0 else VMStatus.RUNNING
        listed.append(CloudInstance(vm.instance_id, status, status.value, "us-east-1", "us-east-1a", str(vm.id)))
    VM.objects.bulk_create(rows, batch_size=1000)

    class InMemoryEC2:
        name, lists_per_region = "aws", True

        def __init__(self, config):
            pass

        def list_managed(self, region=""):
            return iter(listed)

    registry.override("aws", InMemoryEC2)
    cloud.clear_cache()
    try:
        sync_targets.ensure_targets(timezone.now())
        target = SyncTarget.objects.select_related("account__workspace").get(account=account)
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        result = sync.sync_target(target)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    finally:
        registry.override("aws", None)
    assert result.changed == CPU_VMS // 100 and result.confirmed == CPU_VMS - CPU_VMS // 100
    return {"full_cpu_us_per_vm": 1e6 * cpu / CPU_VMS, "full_wall_seconds": wall}


# -- output -------------------------------------------------------------------------------------------

def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


def print_results(world, r: dict) -> None:
    from vms.providers.aws import AWSProvider
    from vms.providers.gcp import GCPProvider
    from vms.sandbox import azure as azure_sandbox

    batched_calls, per_vm_calls = sum(r["batched_calls"].values()), sum(r["per_vm_calls"].values())
    pages = {
        **{f"aws {region}": math.ceil(count / AWSProvider.page_size) for region, count in AWS_REGIONS.items()},
        "gcp": math.ceil(GCP_VMS / GCPProvider.PAGE_SIZE),
        "azure": math.ceil(AZURE_VMS / azure_sandbox.PAGE_SIZE),
    }
    bound = sum(count + 1 for count in pages.values())
    report(f"Sync {world['vms']} VMs over the three sandboxes (every {STOPPED_SHARE}th stopped behind SkyClust's back)", [
        ("batched poll_providers", f"{batched_calls} API calls {r['batched_calls']}, {r['batched_seconds']:.2f} s, statuses right: {r['batched_correct']}"),
        ("per-VM baseline (SyncVMStatus)", f"{per_vm_calls} API calls {r['per_vm_calls']}, {r['per_vm_seconds']:.2f} s, statuses right: {r['per_vm_correct']}"),
        ("fewer calls", f"{per_vm_calls / batched_calls:.0f}x (goal >= 100x)"),
        ("faster", f"{r['per_vm_seconds'] / r['batched_seconds']:.1f}x"),
        ("bound: ceil(VMs/page) + 1 per target", f"{bound} calls over {len(pages)} targets {pages}; used {batched_calls}: {'within' if batched_calls <= bound else 'OVER'}"),
        ("targets", "; ".join(f"{t} listed {n}{' ERROR ' + e if e else ''}" for t, n, e in r["targets"])),
    ])
    report(f"EC2 list on the same moto data ({sum(AWS_REGIONS.values())} instances, {len(AWS_REGIONS)} regions)", [
        ("SkyClust list_managed", f"{r['ours_aws_calls']} calls, {r['ours_aws_seconds']:.2f} s, {r['ours_aws_instances']} instances"),
        ("Libcloud EC2 list_nodes", f"{r['libcloud_calls']} calls, {r['libcloud_seconds']:.2f} s, {r['libcloud_nodes']} nodes"),
        ("Libcloud / SkyClust", f"{r['libcloud_calls'] / r['ours_aws_calls']:.1f}x calls, {r['libcloud_seconds'] / r['ours_aws_seconds']:.1f}x time"),
    ])
    report(f"App-side CPU of the mapping/diff at {CPU_VMS:,} VMs (list in memory, 1% changed)", [
        ("per VM per cycle", f"{r['cpu_us_per_vm']:.2f} µs (goal < 50 µs)"),
        ("whole cycle without network", f"{r['full_cpu_us_per_vm']:.1f} µs CPU per VM, {r['full_wall_seconds']:.2f} s wall "
                                        f"(read rows, diff, bulk-write 1% with audit and events, stamp 99%; {connection_vendor()})"),
    ])


if __name__ == "__main__":
    main()
