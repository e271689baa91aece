from vms import catalog


def test_valid_choice_has_no_errors():
    assert catalog.validate(provider="gcp", region="us-central1", zone="us-central1-a", instance_type="e2-small",
                            image_id="projects/debian-cloud/global/images/family/debian-12") == {}


def test_unknown_values_name_the_allowed_ones():
    errors = catalog.validate(provider="aws", region="mars-1", zone="", instance_type="t9.huge", image_id="ami-nope")
    assert "us-east-1" in errors["region"]
    assert "t3.micro" in errors["type"]
    assert "ami-0c7217cdde317cfec" in errors["image_id"]


def test_gcp_requires_a_zone_of_the_region():
    assert "us-central1-a" in catalog.validate(provider="gcp", region="us-central1", zone="", instance_type="e2-small",
                                               image_id="projects/debian-cloud/global/images/family/debian-12")["zone"]
    assert "zone" in catalog.validate(provider="gcp", region="us-central1", zone="europe-west1-b", instance_type="e2-small",
                                      image_id="projects/debian-cloud/global/images/family/debian-12")


def test_unknown_provider_is_an_error():
    assert "provider" in catalog.validate(provider="ibm", region="x", zone="", instance_type="x", image_id="x")


def test_sizing_comes_from_the_catalog():
    assert catalog.sizing("azure", "Standard_D2s_v5", "Debian:debian-12:12-gen2:latest") == (2, 8192, 30)
