"""HTTP shapes of comment readings and topic trends."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.feedback.adapters.readings import CaseReading
from services.feedback.domain.reading import CommentReading, Sentiment


class CommentReadingPublic(BaseModel):
    """What the service read in a comment."""

    language: str | None = Field(description="en, de or zh; null when the comment is in none of them")
    language_source: str = Field(description="detected, or traveller (the profile's language, when unsure)")
    sentiment: Sentiment
    score: float = Field(description="-1 (very negative) to 1 (very positive)")
    topics: list[str]
    reader: str = Field(description="Version of the reader")

    @classmethod
    def of(cls, reading: CommentReading | None) -> CommentReadingPublic | None:
        if reading is None:
            return None
        return cls(
            language=reading.language,
            language_source=reading.language_source,
            sentiment=reading.sentiment,
            score=reading.score,
            topics=list(reading.topics),
            reader=reading.reader,
        )


class CaseReadingPublic(BaseModel):
    """A case's topics and sentiment: read from the traveller's latest comment about it (`survey_id`), or
    from its subject and description when an agent opened it and no comment came since."""

    sentiment: Sentiment
    score: float
    topics: list[str]
    survey_id: str | None

    @classmethod
    def of(cls, reading: CaseReading | None) -> CaseReadingPublic | None:
        if reading is None:
            return None
        return cls(
            sentiment=reading.sentiment, score=reading.score, topics=list(reading.topics), survey_id=reading.survey_id
        )


class TopicMonth(BaseModel):
    topic: str
    comments: int = Field(description="Comments that mention the topic")
    negative: int = Field(description="Of those, the negative ones")
    negative_share: float = Field(description="negative / comments")
    share_of_comments: float = Field(description="comments / all comments read that month")


class MonthTrend(BaseModel):
    month: str = Field(description="YYYY-MM (UTC)")
    comments: int = Field(description="Comments read that month (with or without a topic)")
    topics: list[TopicMonth]


class TopicTrends(BaseModel):
    company_id: str | None
    tier: str | None
    since: datetime
    until: datetime
    months: list[MonthTrend]
