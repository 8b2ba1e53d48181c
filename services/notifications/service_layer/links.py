"""The credentials in messages' links, kept sealed until the message is rendered.

A survey link and a confirmation question's answer link carry a token that is the traveller's
credential. They arrive sealed (`services.kit.sealing`, with the link keys shared with the
producers); a delivery's context keeps them sealed, and the dispatcher opens them only to render
the message, so neither the topics nor this service's tables hold them in clear. A link that
cannot be opened is refused when the event arrives (dead letter, to re-drive once the keys are
right), not mailed broken. Links in clear from older producers are still accepted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from services.kit.consumer import PermanentError
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.preferences import PreferenceConfirmationRequestedV1
from services.kit.sealing import ANSWER_TOKEN, SURVEY_LINK, SealError, link_sealer


def _web_url(url: str) -> str:
    if urlsplit(url).scheme not in ("https", "http"):
        raise PermanentError(f"survey link must be an http(s) URL, got {url[:30]!r}…")
    return url


def survey_link(p: SurveyInvitedV1) -> dict[str, Any]:
    """The context entries of a survey invitation's link."""
    if p.sealed_survey_url is not None:
        try:
            _web_url(link_sealer().open(p.sealed_survey_url, purpose=SURVEY_LINK, subject=p.survey_id))
        except SealError as exc:
            raise PermanentError(f"the survey link cannot be opened: {exc}") from exc
        return {"sealed_survey_url": p.sealed_survey_url}
    if p.survey_url is not None:
        return {"survey_url": _web_url(p.survey_url)}
    raise PermanentError("a survey invitation without a link")


def answer_link(p: PreferenceConfirmationRequestedV1, *, base_url: str) -> dict[str, Any] | None:
    """The context entries of a confirmation question's answer link (None: the question has none)."""
    if p.sealed_answer_token is not None:
        try:
            link_sealer().open(p.sealed_answer_token, purpose=ANSWER_TOKEN, subject=p.request_id)
        except SealError as exc:
            raise PermanentError(f"the answer token cannot be opened: {exc}") from exc
        return {"answer_base_url": base_url, "sealed_answer_token": p.sealed_answer_token}
    if p.answer_token is not None:
        return {"answer_url": f"{base_url}/confirmations/{p.answer_token}"}
    return None


def opened(context: dict[str, Any]) -> dict[str, Any]:
    """A delivery's context with its links opened, to render the message (`SealError` if one cannot be)."""
    out = dict(context)
    sealed_url = out.pop("sealed_survey_url", None)
    if sealed_url is not None:
        out["survey_url"] = link_sealer().open(sealed_url, purpose=SURVEY_LINK, subject=str(out.get("survey_id")))
    sealed_token = out.pop("sealed_answer_token", None)
    if sealed_token is not None:
        token = link_sealer().open(sealed_token, purpose=ANSWER_TOKEN, subject=str(out.get("request_id")))
        out["answer_url"] = f"{out.pop('answer_base_url')}/confirmations/{token}"
    return out
