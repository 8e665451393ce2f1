"""Settings: a missing secret stops startup; production settings pass check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, env_overrides: dict[str, str], drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_startup_stops_without_a_secret_key(tmp_path):
    result = run_manage("check", env_overrides={"DEBUG": "0", "DATA_DIR": str(tmp_path)}, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_management_commands_use_the_secret_make_run_keeps_in_the_checkout(tmp_path):
    """After 'make run' (which writes DATA_DIR/secret_key), 'manage.py models list' in the same checkout runs."""
    (tmp_path / "secret_key").write_text("k" * 10 + "-generated-by-make-run-" + "Qx7!" * 8 + "\n")
    result = run_manage("models", "list", env_overrides={"DEBUG": "0", "DATA_DIR": str(tmp_path)},
                        drop=("SECRET_KEY",))
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY is not set" not in result.stderr
    assert result.stdout.splitlines()[0].split()[:2] == ["ID", "TASK"]


def test_an_empty_secret_key_file_still_stops_startup(tmp_path):
    (tmp_path / "secret_key").write_text("\n")
    result = run_manage("check", env_overrides={"DEBUG": "0", "DATA_DIR": str(tmp_path)}, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_without_a_secret_key():
    result = run_manage("check", env_overrides={"DEBUG": "1"}, drop=("SECRET_KEY",))
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides={
        "DEBUG": "0", "SECRET_KEY": "a" * 10 + "-production-grade-secret-" + "Zq8#pL2@" * 4,
    }, drop=("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
