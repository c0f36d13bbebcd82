"""S3 logins of their own: an IAM user per login, named after the resource, with the inline
policy of its access level on the resource's bucket, and one access key.

IAM makes the secret: ``add_login`` returns the key it issued (the login's password is not
used), and adding a login again replaces its key. Removing a login deactivates its keys
first, which S3 honours at once, then deletes them, the policy and the user. Keys carry no
validity: a login's end is for the manager to enforce. After a rotation of the owner, the
owner's own user keeps its policy but no key: an owner-level login holds its credentials.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from providers.adapters.aws_errors import error_code, missing_ok
from providers.adapters.base import (
    Access,
    Credentials,
    Login,
    ProviderError,
    require_backend_name,
    require_login_name,
)
from providers.adapters.naming import is_login_of
from providers.adapters.s3_names import POLICY_NAME, bucket_name, bucket_policy


class S3Logins:
    """``add_login`` and ``remove_login`` of the S3 adapter, which this is mixed into: it
    uses the adapter's IAM client and helpers."""

    login_access = frozenset(Access)
    login_secret_from_backend = True

    def add_login(self, backend_name: str, login: Login) -> Credentials:
        name = require_backend_name(backend_name)
        user, bucket = require_login_name(login.name, name), bucket_name(name)
        with self._errors(f"adding login {user} to {bucket}"):
            if not self._bucket_exists(bucket):
                raise ProviderError(f"bucket {bucket} does not exist")
            self._ensure_user(user)
            self._iam.put_user_policy(
                UserName=user, PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(bucket_policy(bucket, login.access)))
            return self._new_key(user, bucket)

    def remove_login(self, backend_name: str, login_name: str) -> None:
        user = require_login_name(login_name, require_backend_name(backend_name))
        with self._errors(f"removing login {user}"):
            if not self._drop_keys(user):
                return  # gone already
            with missing_ok():
                self._iam.delete_user_policy(UserName=user, PolicyName=POLICY_NAME)
            with missing_ok():
                self._iam.delete_user(UserName=user)

    owner_rotates = True

    def close_owner_login(self, backend_name: str) -> None:
        """The owner's own user keeps its policy and loses its keys, as a NOLOGIN role."""
        name = require_backend_name(backend_name)
        with self._errors(f"closing the keys of {name}"):
            self._drop_keys(name)

    def _drop_keys(self, user: str) -> bool:
        """Deactivate the user's keys, which S3 honours at once, then delete them; False
        when the user does not exist."""
        try:
            keys = [key["AccessKeyId"] for key in self._keys(user)]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return False
            raise
        for key_id in keys:  # refused from now on, before anything else goes
            self._iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        for key_id in keys:
            with missing_ok():
                self._iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        return True

    def _remove_logins(self, name: str) -> None:
        """Remove every login of the resource ``name``, as its deletion does."""
        pages = self._iam.get_paginator("list_users").paginate(PathPrefix=self.iam_path)
        for user in [user["UserName"] for page in pages for user in page["Users"]]:
            if is_login_of(user, name):
                self.remove_login(name, user)
