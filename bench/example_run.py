"""The foundation issue's numbers: `tenant-router migrate` on the clinic example vs a `manage.py migrate` loop.

    .venv/bin/python bench/example_run.py --backend sqlite --tenants 100 --state empty --rounds 3

Contenders: `tr` (both ORMs, as users run it), `trdj` (`--orm django_orm`, the like-for-like
comparison), `shell` (`manage.py migrate --database t<i>` per tenant, Django only), `inproc` (optional).
"""

from provision import EXAMPLE
from run import run

if __name__ == "__main__":
    run(EXAMPLE, default_only="tr,trdj,shell")
