"""Regions, zones, instance types and well-known images of each cloud, shipped with the package.

Create validates against this data and fills the VM's cpus / memory / storage from it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    cpus: int
    memory_mb: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.cpus} vCPU, {self.memory_mb // 1024 if self.memory_mb >= 1024 else self.memory_mb / 1024:g} GiB)"


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    storage_gb: int


@dataclass(frozen=True)
class ProviderCatalog:
    regions: dict[str, tuple[str, ...]]  # region -> zones (empty when the cloud needs none)
    zone_required: bool
    types: dict[str, InstanceType]
    images: dict[str, Image]


def _types(*rows: tuple[str, int, int]) -> dict[str, InstanceType]:
    return {name: InstanceType(name, cpus, memory_mb) for name, cpus, memory_mb in rows}


def _images(*rows: tuple[str, str, int]) -> dict[str, Image]:
    return {image_id: Image(image_id, name, storage_gb) for image_id, name, storage_gb in rows}


CATALOG: dict[str, ProviderCatalog] = {
    "aws": ProviderCatalog(
        regions={
            "us-east-1": ("us-east-1a", "us-east-1b", "us-east-1c"),
            "us-west-2": ("us-west-2a", "us-west-2b", "us-west-2c"),
            "eu-west-1": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
            "eu-central-1": ("eu-central-1a", "eu-central-1b", "eu-central-1c"),
        },
        zone_required=False,
        types=_types(
            ("t3.micro", 2, 1024),
            ("t3.small", 2, 2048),
            ("t3.medium", 2, 4096),
            ("m5.large", 2, 8192),
            ("m5.xlarge", 4, 16384),
            ("c5.2xlarge", 8, 16384),
        ),
        images=_images(
            ("ami-0c7217cdde317cfec", "Ubuntu 22.04 LTS", 8),
            ("ami-04b70fa74e45c3917", "Ubuntu 24.04 LTS", 8),
            ("ami-0fe630eb857a6ec83", "Red Hat Enterprise Linux 9", 10),
            ("ami-051f8a213df8bc089", "Amazon Linux 2023", 8),
        ),
    ),
    "gcp": ProviderCatalog(
        regions={
            "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
            "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
            "asia-east1": ("asia-east1-a", "asia-east1-b", "asia-east1-c"),
        },
        zone_required=True,
        types=_types(
            ("e2-micro", 2, 1024),
            ("e2-small", 2, 2048),
            ("e2-medium", 2, 4096),
            ("n2-standard-2", 2, 8192),
            ("n2-standard-4", 4, 16384),
            ("c3-standard-8", 8, 32768),
        ),
        images=_images(
            ("projects/debian-cloud/global/images/family/debian-12", "Debian 12", 10),
            ("projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64", "Ubuntu 24.04 LTS", 10),
            ("projects/rocky-linux-cloud/global/images/family/rocky-linux-9", "Rocky Linux 9", 20),
        ),
    ),
    "azure": ProviderCatalog(
        regions={"eastus": (), "westus2": (), "westeurope": (), "northeurope": ()},
        zone_required=False,
        types=_types(
            ("Standard_B1s", 1, 1024),
            ("Standard_B2s", 2, 4096),
            ("Standard_D2s_v5", 2, 8192),
            ("Standard_D4s_v5", 4, 16384),
            ("Standard_F8s_v2", 8, 16384),
        ),
        images=_images(
            ("Canonical:ubuntu-24_04-lts:server:latest", "Ubuntu 24.04 LTS", 30),
            ("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", "Ubuntu 22.04 LTS", 30),
            ("Debian:debian-12:12-gen2:latest", "Debian 12", 30),
        ),
    ),
}


def for_provider(provider: str) -> ProviderCatalog | None:
    return CATALOG.get(provider)


def _one_of(kind: str, allowed) -> str:
    return f"Unknown {kind}; choose one of: {', '.join(allowed)}."


def validate(*, provider: str, region: str, zone: str, instance_type: str, image_id: str) -> dict[str, str]:
    """Field name -> message for every value the catalog does not allow (empty when all is well)."""
    catalog = for_provider(provider)
    if catalog is None:
        return {"provider": _one_of("provider", CATALOG)}
    errors: dict[str, str] = {}
    if region not in catalog.regions:
        errors["region"] = _one_of("region", catalog.regions)
    else:
        zones = catalog.regions[region]
        if zone and zone not in zones:
            errors["zone"] = (
                _one_of(f"zone for {region}", zones) if zones else f"{region} takes no zone; leave it empty."
            )
        elif not zone and catalog.zone_required:
            errors["zone"] = f"A zone is required; choose one of: {', '.join(zones)}."
    if instance_type not in catalog.types:
        errors["type"] = _one_of("instance type", catalog.types)
    if image_id not in catalog.images:
        errors["image_id"] = _one_of("image", catalog.images)
    return errors


def sizing(provider: str, instance_type: str, image_id: str) -> tuple[int, int, int]:
    """(cpus, memory_mb, storage_gb) for a validated type and image."""
    catalog = CATALOG[provider]
    kind = catalog.types[instance_type]
    return kind.cpus, kind.memory_mb, catalog.images[image_id].storage_gb
