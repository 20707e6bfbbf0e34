"""Deployment settings, read once from the environment or a `.env` file."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PUBLIC_BOT_API = "https://api.telegram.org"
SUPPORTED_LANGUAGES = ("id", "en")


class Settings(BaseSettings):
    """Every setting Aduan reads; documented one by one in deploy/.env.example."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = Field(default=None, alias="BOT_TOKEN")
    telegram_api_url: str = Field(default=PUBLIC_BOT_API, alias="TELEGRAM_API_URL")
    telegram_request_timeout: float = Field(default=60.0, gt=0, le=600,
                                            alias="TELEGRAM_REQUEST_TIMEOUT")
    telegram_mode: str = Field(default="polling", pattern=r"^(polling|webhook)$",
                               alias="TELEGRAM_MODE")
    webhook_url: str | None = Field(default=None, pattern=r"^https?://", alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    webhook_path: str = Field(default="/telegram/webhook", pattern=r"^/", alias="WEBHOOK_PATH")
    database_url: str = Field(default="sqlite+aiosqlite:///./aduan.db", alias="DATABASE_URL")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), alias="ADMIN_IDS"
    )
    media_dir: Path = Field(default=Path("./media"), alias="MEDIA_DIR")
    timezone: str = Field(default="Asia/Jakarta", alias="TIMEZONE")
    default_language: str = Field(default="id", alias="DEFAULT_LANGUAGE")

    draft_ttl_hours: float = Field(default=24.0, gt=0, alias="DRAFT_TTL_HOURS")
    max_media: int = Field(default=5, ge=1, le=10, alias="MAX_MEDIA")
    holidays: Annotated[tuple[date, ...], NoDecode] = Field(default=(), alias="HOLIDAYS")
    holidays_country: str = Field(default="ID", pattern=r"^([A-Z]{2}|none)$",
                                  alias="HOLIDAYS_COUNTRY")
    verify_deadline: str = Field(default="3d", alias="VERIFY_DEADLINE")
    auto_close_days: int = Field(default=10, ge=1, le=365, alias="AUTO_CLOSE_DAYS")
    light_yellow_share: float = Field(default=0.75, gt=0, lt=1, alias="LIGHT_YELLOW_SHARE")
    admin_chat_id: int | None = Field(default=None, alias="ADMIN_CHAT_ID")
    # Operator verification: reports wait in OPERATOR_CHAT_ID (else ADMIN_CHAT_ID) until an
    # operator verifies them; only verified reports reach the OPD.
    verify_reports: bool = Field(default=False, alias="VERIFY_REPORTS")
    operator_chat_id: int | None = Field(default=None, alias="OPERATOR_CHAT_ID")
    max_reports_per_day: int = Field(default=5, ge=0, le=1000, alias="MAX_REPORTS_PER_DAY")
    digest_weekday: int = Field(default=1, ge=1, le=7, alias="DIGEST_WEEKDAY")
    digest_time: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             alias="DIGEST_TIME")
    scheduler_interval: float = Field(default=60.0, ge=1, alias="SCHEDULER_INTERVAL")
    inbox_retention_days: float = Field(default=7.0, gt=0, alias="INBOX_RETENTION_DAYS")
    outbox_retention_days: float = Field(default=30.0, gt=0, alias="OUTBOX_RETENTION_DAYS")
    ticket_prefix: str = Field(default="ADU", pattern=r"^[A-Z]{2,5}$", alias="TICKET_PREFIX")

    geocoder: str = Field(default="nominatim", pattern=r"^(nominatim|none)$", alias="GEOCODER")
    geocoder_domain: str = Field(default="nominatim.openstreetmap.org", alias="GEOCODER_DOMAIN")
    geocoder_scheme: str = Field(default="https", pattern=r"^https?$", alias="GEOCODER_SCHEME")
    geocoder_timeout: float = Field(default=5.0, gt=0, alias="GEOCODER_TIMEOUT")
    geocoder_min_delay: float = Field(default=1.0, ge=0, alias="GEOCODER_MIN_DELAY")
    geocoder_user_agent: str = Field(default="aduan-bot", alias="GEOCODER_USER_AGENT")
    service_area: Annotated[tuple[float, float, float, float] | None, NoDecode] = Field(
        default=None, alias="SERVICE_AREA"
    )
    # SERVICE_AREA given as a GeoJSON file (Polygon/MultiPolygon, holes allowed) instead.
    service_area_file: Path | None = Field(default=None, exclude=True)
    duplicate_radius_m: float = Field(default=150.0, ge=0, le=5000, alias="DUPLICATE_RADIUS_M")

    rate_limit_burst: int = Field(default=20, ge=1, alias="RATE_LIMIT_BURST")
    rate_limit_per_second: float = Field(default=2.0, gt=0, alias="RATE_LIMIT_PER_SECOND")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: str = Field(default="text", pattern=r"^(text|json)$", alias="LOG_FORMAT")

    outbox_max_attempts: int = Field(default=8, ge=1, alias="OUTBOX_MAX_ATTEMPTS")
    outbox_backoff_base: float = Field(default=2.0, gt=0, alias="OUTBOX_BACKOFF_BASE")
    outbox_chat_interval: float = Field(default=1.0, ge=0, alias="OUTBOX_CHAT_INTERVAL")
    outbox_group_per_minute: int = Field(default=20, ge=1, alias="OUTBOX_GROUP_PER_MINUTE")
    outbox_global_per_second: int = Field(default=30, ge=1, alias="OUTBOX_GLOBAL_PER_SECOND")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    redis_prefix: str = Field(default="aduan:", min_length=1, alias="REDIS_PREFIX")

    playground_host: str = Field(default="127.0.0.1", alias="PLAYGROUND_HOST")
    playground_port: int = Field(default=8765, ge=0, le=65535, alias="PLAYGROUND_PORT")
    playground_dir: Path | None = Field(default=None, alias="PLAYGROUND_DIR")
    playground_room_ttl_minutes: float = Field(default=60.0, gt=0,
                                               alias="PLAYGROUND_ROOM_TTL_MINUTES")
    playground_max_rooms: int = Field(default=20, ge=1, alias="PLAYGROUND_MAX_ROOMS")
    playground_browser: bool = Field(default=True, alias="PLAYGROUND_BROWSER")

    web_host: str = Field(default="0.0.0.0", alias="WEB_HOST")
    web_port: int = Field(default=8080, ge=0, le=65535, alias="WEB_PORT")
    whatsapp_token: SecretStr | None = Field(default=None, alias="WHATSAPP_TOKEN")
    whatsapp_phone_number_id: str | None = Field(default=None, alias="WHATSAPP_PHONE_NUMBER_ID")
    whatsapp_app_secret: SecretStr | None = Field(default=None, alias="WHATSAPP_APP_SECRET")
    whatsapp_verify_token: SecretStr | None = Field(default=None, alias="WHATSAPP_VERIFY_TOKEN")
    whatsapp_api_url: str = Field(default="https://graph.facebook.com/v22.0",
                                  alias="WHATSAPP_API_URL")
    whatsapp_webhook_path: str = Field(default="/whatsapp/webhook", pattern=r"^/",
                                       alias="WHATSAPP_WEBHOOK_PATH")
    whatsapp_template_name: str = Field(default="aduan_update", alias="WHATSAPP_TEMPLATE_NAME")
    whatsapp_template_language: str = Field(default="id", alias="WHATSAPP_TEMPLATE_LANGUAGE")
    whatsapp_template_params: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("code", "message"), alias="WHATSAPP_TEMPLATE_PARAMS")

    # Identity and personal data (UU PDP): see the README's "Personal data" section.
    identity_modes: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("named", "confidential", "anonymous"), alias="IDENTITY_MODES")
    require_phone: bool = Field(default=False, alias="REQUIRE_PHONE")
    require_nik: bool = Field(default=False, alias="REQUIRE_NIK")
    phone_region: str = Field(default="ID", pattern=r"^[A-Z]{2}$", alias="PHONE_REGION")
    pii_keys: SecretStr | None = Field(default=None, alias="PII_KEYS")
    pii_hash_key: SecretStr | None = Field(default=None, alias="PII_HASH_KEY")
    pii_key_file: Path | None = Field(default=None, alias="PII_KEY_FILE")
    personal_data_retention_days: int = Field(default=365, ge=0,
                                              alias="PERSONAL_DATA_RETENTION_DAYS")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError("must be comma-separated numeric Telegram user ids") from exc
        return value

    @field_validator("playground_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("whatsapp_template_params", mode="before")
    @classmethod
    def _parse_params(cls, value: object) -> object:
        if isinstance(value, str):
            parts = tuple(p.strip() for p in value.split(",") if p.strip())
            unknown = set(parts) - {"code", "message", "status"}
            if unknown:
                raise ValueError("may only name code, message, status")
            return parts
        return value

    @field_validator("identity_modes", mode="before")
    @classmethod
    def _parse_modes(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(p.strip().lower() for p in value.split(",") if p.strip())
        if isinstance(value, (tuple, list)):
            unknown = set(value) - {"named", "confidential", "anonymous"}
            if unknown or not value:
                raise ValueError("must name one or more of named, confidential, anonymous")
            order = ("named", "confidential", "anonymous")
            return tuple(m for m in order if m in value)
        return value

    @field_validator("pii_keys")
    @classmethod
    def _check_pii_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from models.pii import PiiKeyError, parse_keys

        try:
            parse_keys(value.get_secret_value())
        except PiiKeyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("pii_hash_key")
    @classmethod
    def _check_hash_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("pii_key_file", mode="before")
    @classmethod
    def _blank_key_file(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("whatsapp_template_language")
    @classmethod
    def _check_template_language(cls, value: str) -> str:
        if value in ("id", "en"):  # WhatsApp codes of the shipped languages: no pywa import
            return value  # (pywa costs ~8 MB resident in a bot that may not use WhatsApp)
        from pywa.types.templates import TemplateLanguage

        try:
            TemplateLanguage(value)
        except ValueError as exc:
            raise ValueError("must be a WhatsApp template language code such as id or en") from exc
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and not re.fullmatch(
                r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters: letters, digits, _ and -")
        return value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _blank_url(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("admin_chat_id", "operator_chat_id", mode="before")
    @classmethod
    def _blank_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("verify_deadline")
    @classmethod
    def _check_deadline(cls, value: str) -> str:
        from models.domain import Deadline

        return str(Deadline.parse(value))

    @field_validator("holidays", mode="before")
    @classmethod
    def _parse_holidays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(date.fromisoformat(p.strip()) for p in value.split(",") if p.strip())
        return value

    @field_validator("service_area", mode="before")
    @classmethod
    def _parse_area(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if value.strip().lower().endswith((".geojson", ".json")):
                return None  # a polygon file: read by _area_file below
            parts = [float(p) for p in value.split(",")]
            if len(parts) != 4 or parts[0] >= parts[2] or parts[1] >= parts[3]:
                raise ValueError("must be min_lat,min_lon,max_lat,max_lon")
            return tuple(parts)
        return value

    @model_validator(mode="before")
    @classmethod
    def _area_file(cls, data: object) -> object:
        """SERVICE_AREA=path/to/area.geojson: checked now (exists, valid polygons)."""
        if not isinstance(data, dict):
            return data
        value = data.get("SERVICE_AREA", data.get("service_area"))
        if isinstance(value, str) and value.strip().lower().endswith((".geojson", ".json")):
            from models.geo import GeoError, load_area_text

            path = Path(value.strip())
            try:
                load_area_text(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"SERVICE_AREA: cannot read {path}: {exc}") from None
            except GeoError as exc:
                raise ValueError(f"SERVICE_AREA: {path}: {exc}") from None
            data = {**data, "service_area_file": path}
        return data

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Asia/Jakarta") from exc
        return value

    @field_validator("default_language")
    @classmethod
    def _check_lang(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (or be empty)")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def calendar(self):  # type: ignore[no-untyped-def]
        """Working days for deadlines: weekends, the country's public holidays, HOLIDAYS."""
        from models.domain import WorkCalendar

        country = None if self.holidays_country == "none" else self.holidays_country
        return WorkCalendar(self.tz, self.holidays, country)

    @model_validator(mode="after")
    def _identity_possible(self) -> Settings:
        if (self.require_phone or self.require_nik) and self.identity_modes == ("anonymous",):
            raise ValueError("IDENTITY_MODES=anonymous cannot go with REQUIRE_PHONE or "
                             "REQUIRE_NIK: allow named or confidential too")
        return self

    @property
    def anonymous_allowed(self) -> bool:
        """Anonymous is offered only where allowed and no identity is required."""
        return "anonymous" in self.identity_modes and not (self.require_phone
                                                           or self.require_nik)

    def key_file(self) -> Path:
        """Where the generated personal-data key lives when PII_KEYS is unset: PII_KEY_FILE,
        else inside MEDIA_DIR (a volume every worker shares and that outlives a container)."""
        if self.pii_key_file is not None:
            return self.pii_key_file
        return self.media_dir / ".aduan-pii.key"

    def vault(self):  # type: ignore[no-untyped-def]
        """The personal-data vault: PII_KEYS, else the key file (generated on first use)."""
        from models.pii import Vault, key_file_vault, parse_keys

        hash_key = (self.pii_hash_key.get_secret_value().strip().encode()
                    if self.pii_hash_key else None)
        if self.pii_keys is not None:
            return Vault(parse_keys(self.pii_keys.get_secret_value()), hash_key)
        return key_file_vault(self.key_file(), hash_key)

    @property
    def whatsapp_enabled(self) -> bool:
        """WhatsApp is on only when its four credentials are all set."""
        return all((self.whatsapp_token, self.whatsapp_phone_number_id,
                    self.whatsapp_app_secret, self.whatsapp_verify_token))


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line telling what to set."""


def load_settings(**overrides: object) -> Settings:
    """Build Settings from env/.env (plus overrides) or raise SettingsError with one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a rule across settings (e.g. IDENTITY_MODES with REQUIRE_NIK)
            msg = err["msg"].removeprefix("Value error, ")
            raise SettingsError(f"Invalid settings: {msg}.") from None
        name = str(err["loc"][0])
        field = Settings.model_fields.get(name)
        env = field.alias if field and field.alias else name.upper()
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across settings: its message names the setting
            raise SettingsError(f"Invalid setting {msg}.") from None
        raise SettingsError(
            f"Invalid setting {env}: {msg}. Set {env} in the environment or .env."
        ) from None


def require_webhook(settings: Settings) -> tuple[str, str]:
    """(WEBHOOK_URL, WEBHOOK_SECRET) for webhook mode, or SettingsError naming the missing one."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not settings.webhook_url:
        raise SettingsError("Webhook mode needs WEBHOOK_URL: set WEBHOOK_URL to the public "
                            "HTTPS address Telegram should call (e.g. https://aduan.example."
                            "go.id/telegram/webhook).")
    if not secret:
        raise SettingsError("Webhook mode needs WEBHOOK_SECRET: set WEBHOOK_SECRET to a random "
                            "string of letters, digits, _ and - (e.g. from `openssl rand -hex "
                            "32`).")
    return settings.webhook_url, secret


def operator_chat(settings: Settings) -> int | None:
    """The operators' group when verification is on (OPERATOR_CHAT_ID, else ADMIN_CHAT_ID);
    SettingsError naming OPERATOR_CHAT_ID if neither is set. None when verification is off."""
    if not settings.verify_reports:
        return None
    chat = settings.operator_chat_id or settings.admin_chat_id
    if chat is None:
        raise SettingsError("VERIFY_REPORTS is on but OPERATOR_CHAT_ID is not set: set "
                            "OPERATOR_CHAT_ID to the operators' Telegram group id (from /myid "
                            "there), or ADMIN_CHAT_ID, or VERIFY_REPORTS=false.")
    return chat


def require_token(settings: Settings) -> str:
    """Return the bot token or raise SettingsError naming BOT_TOKEN."""
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    if not token or ":" not in token:
        raise SettingsError(
            "BOT_TOKEN is missing or malformed: set BOT_TOKEN to the token @BotFather gave you "
            "(e.g. BOT_TOKEN=123456:ABC...) in the environment or .env."
        )
    return token
