"""The password policy: common, repeated, sequential and name-bearing passwords are refused, and the
message says why; ordinary passphrases pass."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.accounts import AccountError, password_problem
from threatwatch.accounts.passwords import common_passwords
from threatwatch.domain import Role


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("aaaaaaaaaa", "one character repeated"),
        ("          ", "one character repeated"),
        ("abababababab", "repeats the pattern 'ab'"),
        ("abcabcabca", "repeats the pattern 'abc'"),
        ("Welkom01Welkom01", "repeats the pattern 'welkom01'"),
        ("1111122222", "only 2 different characters"),
        ("abcdefghij", "simple sequence"),
        ("1234567890", "simple sequence"),
        ("0987654321", "simple sequence"),
        ("qwertyuiop", "simple sequence"),
        ("qwerty123456", "simple sequence"),
        ("azertyuiop!", "simple sequence"),
        ("wachtwoord", "too common|'wachtwoord'"),
        ("Wachtwoord123", "too common|'wachtwoord123' is one of"),
        ("W@chtw00rd!", "too common|'wachtwoord'"),
        ("welkom0123", "too common|'welkom'"),
        ("Welkom2024!", "too common|'welkom'"),
        ("Welkom 01!!", "too common"),
        ("P@ssw0rd2024", "too common"),
        ("iloveyou123", "too common|'iloveyou'"),
        ("Feyenoord1908", "too common"),
        ("1qaz2wsx3edc", "too common"),
        ("Amsterdam2024", "too common|'amsterdam'"),
        ("kort", "at least 10 characters"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problem = password_problem(password)
    assert problem is not None and all(part in problem for part in reason.split("|")), problem


def test_the_username_and_name_may_not_be_in_the_password() -> None:
    assert password_problem("x-Analyst1-2025!", username="analyst1") == (
        "password must not contain the username"
    )
    assert password_problem("hallo-analist-2025", username="ann.analist") is not None
    problem = password_problem("Vries & zonen 1900", username="avries", display_name="Anna de Vries")
    assert problem == "password must not contain the person's name ('vries')"
    # Short name parts ("de", "ann") occur in ordinary words and are not held against a password.
    assert password_problem("plannen voor de zomerdag", username="ann", display_name="Ann de Wit") is None


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "lang genoeg wachtwoord",  # a common word inside a passphrase is fine
        "een-lang-wachtwoord",
        "Tr0ub4dor&3x",
        "zonnige dag in mei",
        "gemeentehuis-op-dinsdag",
    ],
)
def test_passphrases_and_random_passwords_pass(password: str) -> None:
    assert password_problem(password, username="ann", display_name="Ann Jansen") is None


def test_random_passwords_pass() -> None:
    assert all(password_problem(secrets.token_urlsafe(12)) is None for _ in range(2000))


def test_the_bundled_list_is_lower_case_and_includes_dutch_favourites() -> None:
    common = common_passwords()
    assert 500 <= len(common) <= 5000
    assert {"welkom01", "wachtwoord", "welkom", "qwerty", "password", "feyenoord"} <= common
    assert all(word == word.lower() and word.strip() == word for word in common)


def test_create_user_and_set_password_apply_the_policy(session: Session) -> None:
    with pytest.raises(AccountError, match="one character repeated"):
        accounts.create_user(session, username="ann", password="aaaaaaaaaa", role=Role.ANALYST)
    with pytest.raises(AccountError, match="username"):
        accounts.create_user(session, username="annie", password="annie-2025-xyz", role=Role.ANALYST)
    with pytest.raises(AccountError, match="name"):
        accounts.create_user(
            session, username="ann", password="Vermeulen!2025", role=Role.ANALYST, display_name="A. Vermeulen"
        )
    ann = accounts.create_user(session, username="ann", password="lang genoeg wachtwoord", role="analyst")
    with pytest.raises(AccountError, match="too common"):
        accounts.set_password(session, user=ann, password="welkom01!!")
    assert accounts.authenticate(session, username="ann", password="lang genoeg wachtwoord") is ann
