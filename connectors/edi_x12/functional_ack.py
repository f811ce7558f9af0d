"""Writes the 997 (999 for version 005010) functional acknowledgment of one functional group,
and the TA1 interchange acknowledgment a partner asks for with ISA14 = 1.

Pure text building: the caller decides where the file goes and which control numbers to use.
The reply swaps sender and receiver of the partner's ISA/GS and uses the partner's own
delimiters (so their translator reads it as it reads what it sent), except that the segment
terminator is '~' followed by a newline when theirs is whitespace, for readable files.

AK5 / IK5 codes used: A accepted, R rejected with 1 (set not supported), 2 (trailer missing),
3 (control number mismatch), 4 (segment count), 5 (segment content: mapping error).
AK9 / group: A (all accepted), P (some), R (none); E (accepted, errors noted) when every set
was accepted but the group's own trailer was wrong, with the AK905.. syntax codes: 3 (GE
missing), 4 (GE02 does not match GS06), 5 (GE01 does not count the sets). The sets were
delivered (the envelope is the partner's bookkeeping), so the group is not rejected for it.

A 999 is an implementation acknowledgment of its own version: ST03 and GS08 are
005010X231A1, whatever the acknowledged group's version (AK103 carries that one).

Never acknowledged: a group of acknowledgments (GS01 FA: 997 / 999). Acknowledging an
acknowledgment would start a loop between two translators; `needs_functional_ack` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectors.edi_x12.model import FunctionalGroup, Interchange


@dataclass(frozen=True)
class SetVerdict:
    """How one transaction set of the group was taken: `error_code` None means accepted."""

    set_id: str
    control_number: str
    error_code: str | None = None


def set_error_code(problem: str) -> str:
    """The AK5 syntax error code that best names a rejection's problem."""
    if "not supported" in problem:
        return "1"
    if "no SE" in problem:
        return "2"
    if "control number" in problem:
        return "3"
    if "SE01" in problem:
        return "4"
    return "5"


# The 999's own implementation guide (X12 005010X231A1), its ST03 and GS08.
IMPLEMENTATION_ACK_VERSION = "005010X231A1"
# GS01 of a group of functional / implementation acknowledgments (997, 999).
ACKNOWLEDGMENT_GROUP = "FA"


def needs_functional_ack(group: FunctionalGroup) -> bool:
    """False for a group of 997/999s: an acknowledgment is never acknowledged."""
    return group.functional_id.strip().upper() != ACKNOWLEDGMENT_GROUP


def group_error_code(problem: str) -> str | None:
    """The AK905 functional group syntax error code of a group-trailer problem, if any."""
    if problem.startswith("GE01"):
        return "5"
    if problem.startswith("GE02"):
        return "4"
    if "has no GE" in problem:
        return "3"
    return None


def functional_ack(
    interchange: Interchange,
    group: FunctionalGroup,
    verdicts: list[SetVerdict],
    *,
    control_number: int,
    now: datetime,
    group_errors: tuple[str, ...] = (),
) -> str:
    """The whole interchange (ISA..IEA) acknowledging `group`.

    `group_errors`: AK905 codes (see `group_error_code`) of the group's own trailer problems.
    """
    d = interchange.delimiters
    e = d.element
    terminator = d.segment if d.segment.strip() else "~"
    is_999 = group.version.startswith("005010")
    set_id = "999" if is_999 else "997"
    version = IMPLEMENTATION_ACK_VERSION if is_999 else group.version
    icn = f"{control_number:09d}"
    gcn = str(control_number)
    accepted = sum(1 for v in verdicts if v.error_code is None)
    ak9 = "A" if accepted == len(verdicts) else "P" if accepted else "R"
    codes = tuple(dict.fromkeys(group_errors))[:5]  # AK905..AK909
    if codes and ak9 == "A":
        ak9 = "E"
    ack_loop = "IK5" if is_999 else "AK5"
    body: list[str] = [
        e.join(("ST", set_id, "0001", *((version,) if is_999 else ()))),
        e.join(("AK1", group.functional_id, group.control_number, group.version)),
    ]
    for verdict in verdicts:
        body.append(e.join(("AK2", verdict.set_id, verdict.control_number)))
        if verdict.error_code is None:
            body.append(e.join((ack_loop, "A")))
        else:
            body.append(e.join((ack_loop, "R", verdict.error_code)))
    body.append(e.join(("AK9", ak9, str(len(verdicts)), str(len(verdicts)), str(accepted),
                        *codes)))
    body.append(e.join(("SE", str(len(body) + 1), "0001")))
    repetition = d.repetition if d.repetition is not None else "U"
    isa = e.join((
        "ISA", "00", " " * 10, "00", " " * 10,
        interchange.receiver_qualifier, interchange.receiver_id.ljust(15),
        interchange.sender_qualifier, interchange.sender_id.ljust(15),
        now.strftime("%y%m%d"), now.strftime("%H%M"), repetition, interchange.version,
        icn, "0", interchange.usage_indicator or "P", d.component,
    ))
    segments = [
        isa,
        e.join(("GS", "FA", group.receiver, group.sender, now.strftime("%Y%m%d"),
                now.strftime("%H%M"), gcn, "X", version)),
        *body,
        e.join(("GE", "1", gcn)),
        e.join(("IEA", "1", icn)),
    ]
    return "".join(segment + terminator + "\n" for segment in segments)


# TA105 (element I18) interchange note codes for the trailer problems the envelope reports.
TA1_NOTE_NO_ERROR = "000"
TA1_NOTE_CONTROL_MISMATCH = "001"  # ISA13 and IEA02 do not match
TA1_NOTE_GROUP_COUNT = "021"  # IEA01 does not count the groups


def interchange_note_code(problem: str) -> str | None:
    """The TA105 note code of an interchange-trailer problem, if it has one."""
    if problem.startswith("IEA02"):
        return TA1_NOTE_CONTROL_MISMATCH
    if problem.startswith("IEA01"):
        return TA1_NOTE_GROUP_COUNT
    return None


def interchange_ack(
    interchange: Interchange,
    *,
    control_number: int,
    now: datetime,
    note_code: str = TA1_NOTE_NO_ERROR,
) -> str:
    """A TA1-only interchange answering `interchange` (sent when its ISA14 is 1).

    TA104 is A when `note_code` is 000, else E: the envelope's own bookkeeping was wrong but
    the sets inside were read and answered by their 997/999 (a file that cannot be read at
    all is quarantined and answered by no acknowledgment).
    """
    d = interchange.delimiters
    e = d.element
    terminator = d.segment if d.segment.strip() else "~"
    icn = f"{control_number:09d}"
    isa = e.join((
        "ISA", "00", " " * 10, "00", " " * 10,
        interchange.receiver_qualifier, interchange.receiver_id.ljust(15),
        interchange.sender_qualifier, interchange.sender_id.ljust(15),
        now.strftime("%y%m%d"), now.strftime("%H%M"),
        d.repetition if d.repetition is not None else "U", interchange.version,
        icn, "0", interchange.usage_indicator or "P", d.component,
    ))
    status = "A" if note_code == TA1_NOTE_NO_ERROR else "E"
    ta1 = e.join(("TA1", interchange.control_number, interchange.date, interchange.time,
                  status, note_code))
    segments = [isa, ta1, e.join(("IEA", "0", icn))]
    return "".join(segment + terminator + "\n" for segment in segments)
