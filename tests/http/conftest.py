"""Every HTTP test module gets the app on its own freshly migrated PostgreSQL database."""

import pytest

from tests.support.http import running_api


@pytest.fixture(scope="module")
def api(pg_url):
    with running_api(pg_url) as running:
        yield running
