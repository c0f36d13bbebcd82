"""S3Adapter's errors: an unreachable endpoint is transient, a wrong admin secret
permanent, and neither message holds a secret."""

from __future__ import annotations

import pytest

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.naming import new_backend_name
from providers.adapters.s3 import S3Adapter
from tests.conftest import MotoS3
from tests.support.pgcluster import free_port


def test_an_unreachable_endpoint_is_a_transient_readable_error(moto_s3: MotoS3) -> None:
    port = free_port()
    config = InstanceConfig(host="127.0.0.1", port=port, username=moto_s3.access_key,
                            password=moto_s3.secret_key, options={"secure": False},
                            connect_timeout=2)
    down = S3Adapter(config)
    tenant_secret = "tenant-secret-" + "s" * 26
    stored = Credentials("AKIAEXAMPLE", tenant_secret, "127.0.0.1", port, "rm-aaaaaaaaaaaa",
                         "s3://rm-aaaaaaaaaaaa")
    for operation in (down.ping, lambda: down.create(new_backend_name(), "", {}),
                      lambda: down.check(stored, repair=True),
                      lambda: down.delete(new_backend_name()), lambda: down.inventory("rm_")):
        with pytest.raises(ProviderError) as excinfo:
            operation()
        error = excinfo.value
        assert error.transient
        assert error.message == f"cannot reach S3 at http://127.0.0.1:{port}: connection refused"
        assert error.__cause__ is None and error.__suppress_context__
        assert moto_s3.secret_key not in str(error) and tenant_secret not in str(error)


def test_a_wrong_admin_secret_is_a_permanent_error_without_the_secret(
    moto_s3: MotoS3
) -> None:
    wrong_secret = "wrong-admin-secret-" + "w" * 21
    config = InstanceConfig(host=moto_s3.host, port=moto_s3.port, username=moto_s3.access_key,
                            password=wrong_secret, options={"secure": False})
    with pytest.raises(ProviderError) as excinfo:
        S3Adapter(config).ping()
    assert not excinfo.value.transient
    assert excinfo.value.message.startswith(f"S3 at {moto_s3.endpoint}: ping failed: ")
    assert "SignatureDoesNotMatch" in excinfo.value.message
    assert wrong_secret not in excinfo.value.message

