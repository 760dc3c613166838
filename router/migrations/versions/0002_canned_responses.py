"""canned responses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:00:00

Short texts per language agents insert into replies, with {customer_name} and
{agent_name} placeholders. A few greetings are seeded so a new install has some.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SEED = [
    ("fa", "سلام", "سلام {customer_name}، من {agent_name} هستم. چطور می‌توانم کمکتان کنم؟"),
    ("fa", "پیگیری", "{customer_name}، موضوع را پیگیری می‌کنم و به‌زودی خبرتان می‌کنم."),
    ("ar", "تحية", "مرحباً {customer_name}، أنا {agent_name}. كيف يمكنني مساعدتك؟"),
    ("ar", "متابعة", "{customer_name}، سأتابع الموضوع وأعود إليك قريباً."),
    ("en", "Greeting", "Hello {customer_name}, I'm {agent_name}. How can I help?"),
    ("en", "Follow-up", "{customer_name}, I'm looking into this and will get back to you soon."),
]


def upgrade() -> None:
    table = op.create_table(
        "canned_responses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("language", "title", name="uq_canned_language_title"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [{"language": lang, "title": title, "text": text, "created_at": now} for lang, title, text in SEED],
    )


def downgrade() -> None:
    op.drop_table("canned_responses")
