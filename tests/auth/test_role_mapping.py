"""Roles per scope from claim values, configured like the original (RM_ROLE_MAPPING_*)."""

import pytest

from resourcemanager.identity.access import principal_for
from resourcemanager.identity.principals import roles_from_claims
from resourcemanager.identity.roles import Role


def test_default_templates_map_claim_values_to_scoped_roles():
    claims = {"roles": [
        "resourcemanager/team-a:ROLE_ADMIN",
        "resourcemanager/team-a:ROLE_USER",
        "resourcemanager/team-b:ROLE_CONSUMER_ADMIN",
        "resourcemanager/team-c:ROLE_RESOURCE_ADMIN",
    ]}

    assert roles_from_claims(claims) == {
        "team-a": {Role.ADMIN, Role.USER},
        "team-b": {Role.CONSUMER_ADMIN},
        "team-c": {Role.RESOURCE_ADMIN},
    }


@pytest.mark.parametrize("value", [
    "resourcemanager/Team-A:ROLE_ADMIN",       # scopes are lowercase slugs
    "resourcemanager/team a:ROLE_ADMIN",
    "resourcemanager/../x:ROLE_ADMIN",
    "resourcemanager/team-a:ROLE_ADMIN ",
    "resourcemanager/team-a:ROLE_ADMIN\n",
    "xresourcemanager/team-a:ROLE_ADMIN",
    "resourcemanager/team-a:ROLE_ADMINISTRATOR",
    "resourcemanager/:ROLE_ADMIN",
    "resourcemanager/team-a:ROLE_ADMIN\nresourcemanager/team-b:ROLE_ADMIN",
])
def test_values_that_do_not_match_a_template_exactly_grant_nothing(value):
    assert roles_from_claims({"roles": [value]}) == {}


def test_claim_name_prefix_and_templates_are_configurable(settings):
    settings.RM_ROLES_CLAIM = "realm_access.roles"
    settings.RM_ROLES_PREFIX = "components/"
    settings.RM_ROLE_MAPPING = {"ADMIN": "rm-<scope>-owner", "RESOURCE_ADMIN": "",
                                "CONSUMER_ADMIN": "", "USER": "rm-<scope>-reader"}

    claims = {"realm_access": {"roles": ["components/rm-team-a-owner", "rm-team-b-reader",
                                         "components/rm-team-b-reader"]}}

    assert roles_from_claims(claims) == {"team-a": {Role.ADMIN}, "team-b": {Role.USER}}


def test_groups_claim_as_a_space_separated_string(settings):
    settings.RM_ROLES_CLAIM = "groups"

    claims = {"groups": "resourcemanager/team-a:ROLE_USER other"}

    assert roles_from_claims(claims) == {"team-a": {Role.USER}}


@pytest.mark.parametrize("claims", [{}, {"roles": None}, {"roles": 42}, {"roles": [1, {}]}])
def test_missing_or_odd_claims_grant_nothing(claims):
    assert roles_from_claims(claims) == {}


def test_scopes_outside_the_allow_list_are_ignored(committing_db, settings,
                                                   django_user_model):
    settings.RM_SCOPE_LIST = ["team-a"]
    user = django_user_model.objects.create_user("u")

    principal = principal_for(user, {"team-a": ["USER"], "team-z": ["ADMIN"]})

    assert dict(principal.roles) == {"team-a": {Role.USER}}
