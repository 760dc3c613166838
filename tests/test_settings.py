"""Settings: TOML file, environment overrides, validation that names the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings, secret_names


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pasokh.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment_override(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[server]\nhttp_port = 9000\nhost = "0.0.0.0"\n'
        '[email]\ndomains = ["a.example", "b.example"]\n',
    )
    settings = load_settings(config, env={"PASOKH_SERVER__HTTP_PORT": "9100"})
    assert settings.server.http_port == 9100  # environment wins
    assert settings.server.host == "0.0.0.0"
    assert settings.email.domains == ["a.example", "b.example"]
    env_list = load_settings(config, env={"PASOKH_EMAIL__DOMAINS": "x.example, y.example"})
    assert env_list.email.domains == ["x.example", "y.example"]
    # A TOML (or JSON) array works too, as docs/email.md says, not as one odd domain.
    for array in ('["x.example", "y.example"]', "['x.example','y.example']"):
        env_array = load_settings(config, env={"PASOKH_EMAIL__DOMAINS": array})
        assert env_array.email.domains == ["x.example", "y.example"]
    with pytest.raises(SettingsError, match="PASOKH_WEBCHAT__ALLOWED_ORIGINS"):
        load_settings(config, env={"PASOKH_WEBCHAT__ALLOWED_ORIGINS": '["https://a.example"'})
    with pytest.raises(SettingsError, match="PASOKH_WEBCHAT__ALLOWED_ORIGINS"):
        load_settings(config, env={"PASOKH_WEBCHAT__ALLOWED_ORIGINS": "[1, 2]"})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PASOKH_SERVER__HTTP_PORT": "eighty"}, "PASOKH_SERVER__HTTP_PORT"),
        ({"PASOKH_EMAIL__RELAY_TLS": "maybe"}, "'maybe'"),
        ({"PASOKH_THREADS__AUTO_ASSIGN": "perhaps"}, "PASOKH_THREADS__AUTO_ASSIGN"),
    ],
)
def test_bad_environment_value_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env=env)


def test_bad_file_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[server\] http_port.*'x'"):
        load_settings(write(tmp_path, '[server]\nhttp_port = "x"\n'), env={})
    with pytest.raises(SettingsError, match=r"unknown setting \[server\] colour"):
        load_settings(write(tmp_path, '[server]\ncolour = "red"\n'), env={})
    with pytest.raises(SettingsError, match=r"unknown section \[servre\]"):
        load_settings(write(tmp_path, "[servre]\nhost = 'x'\n"), env={})
    with pytest.raises(SettingsError, match="config file"):
        load_settings(write(tmp_path, "[server\n"), env={})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_secrets_only_from_environment(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PASOKH_TELEGRAM__TOKEN"):
        load_settings(write(tmp_path, '[telegram]\ntoken = "123:abc"\n'), env={})
    secret_file = tmp_path / "token"
    secret_file.write_text("123:from-file\n")
    settings = load_settings(
        env={
            "PASOKH_TELEGRAM__TOKEN_FILE": str(secret_file),
            "PASOKH_EMAIL__RELAY_PASSWORD": "hunter2",
        }
    )
    assert settings.telegram.token == "123:from-file"
    assert "hunter2" not in repr(settings) and "123:from-file" not in repr(settings)
    assert set(secret_names(settings)) >= {"telegram.token", "email.relay_password"}


def test_data_dir_from_argument_environment_or_default() -> None:
    assert load_settings(env={}).data_dir == Path("pasokh-data")
    assert load_settings(env={"PASOKH_DATA_DIR": "/srv/p"}).data_dir == Path("/srv/p")
    assert load_settings(env={"PASOKH_DATA_DIR": "/srv/p"}, data_dir=Path("/x")).data_dir == (
        Path("/x")
    )


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'pasokh.db'}"
    pg = load_settings(env={"PASOKH_DATABASE__URL": "postgresql+asyncpg://u@h/db"})
    assert pg.database_url == "postgresql+asyncpg://u@h/db"


def test_shipped_default_config_loads_and_lists_every_setting() -> None:
    import dataclasses
    import tomllib

    from config.settings import Settings

    default = Path(__file__).resolve().parent.parent / "config" / "default.toml"
    load_settings(default, env={})
    listed = tomllib.loads(default.read_text(encoding="utf-8"))
    for section_field in dataclasses.fields(Settings):
        if section_field.name == "data_dir":
            continue
        section = getattr(Settings(), section_field.name)
        for item in dataclasses.fields(section):
            if item.metadata.get("secret"):
                continue
            assert item.name in listed.get(section_field.name, {}), (
                f"config/default.toml lacks [{section_field.name}] {item.name}"
            )
