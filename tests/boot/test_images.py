"""Disk images (make images): the same kernel as a raw image, a fixed VHD of a whole number of
MiB (Azure's rule), a VHDX and a qcow2, each booted as a hard disk under SeaBIOS and OVMF to a
passing benchmark verdict."""

import json
import subprocess

import pytest

import tlbrun
from conftest import describe

pytestmark = pytest.mark.boot

IMAGES = tlbrun.REPO_ROOT / "build" / "images"
MIB = 1 << 20


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
@pytest.mark.parametrize("ext", ["raw", "vhd", "vhdx", "qcow2"])
def test_image_boots_as_a_disk(built, boot, ext, firmware):
    image = IMAGES / f"tlbstorm.{ext}"
    assert image.is_file(), f"{image} missing: run `make` (it builds the images)"
    res = boot(firmware=firmware, disk=str(image), smp=2, timeout=120,
               cmdline="pages=1 iters=50 warmup=5 ipi_iters=20")
    assert res.status == 0 and res.verdict == "pass", describe(res)
    assert any("-drive" == a for a in res.qemu_argv) and "media=cdrom" not in " ".join(res.qemu_argv)
    assert res.records_of("shootdown"), describe(res)


def test_vhd_is_fixed_and_whole_mib():
    """Azure: a fixed-size VHD whose virtual size is a whole number of MiB."""
    info = subprocess.run(["qemu-img", "info", "-f", "vpc", "--output=json",
                           str(IMAGES / "tlbstorm.vhd")], capture_output=True, text=True, check=True)
    data = json.loads(info.stdout)
    assert data["virtual-size"] % MIB == 0, data
    # fixed: the data in full, then the 512-byte footer (a dynamic VHD has a header and a BAT)
    assert (IMAGES / "tlbstorm.vhd").stat().st_size == data["virtual-size"] + 512, data


def test_disk_usage_errors():
    p = subprocess.run(["scripts/run", "--dry-run", "--firmware", "direct", "--disk", "x.vhd"],
                       capture_output=True, text=True, cwd=tlbrun.REPO_ROOT)
    assert p.returncode == tlbrun.STATUS_HOST and "--disk needs --firmware bios or uefi" in p.stderr
    p = subprocess.run(["scripts/run", "--dry-run", "--firmware", "bios", "--disk", "x.vmdk"],
                       capture_output=True, text=True, cwd=tlbrun.REPO_ROOT)
    assert p.returncode == tlbrun.STATUS_HOST and "unknown image type" in p.stderr, p.stderr
