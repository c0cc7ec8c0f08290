"""Safeguards a change plan should mention, how to tell that it does, and when each matters.

A gap is a safeguard that matters for this plan's risks and that the plan does not mention
(or mentions only to deny: "no canary this time"). Each gap is phrased as a question for the
author, with the past incident that makes it matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.signals import is_negated


@dataclass(frozen=True)
class Safeguard:
    id: str
    present: re.Pattern[str]  # the plan already covers it when this matches (affirmed)
    matters_for: frozenset[str]  # risk modes that make it matter...
    always: bool  # ...or it matters for every change
    question: str
    precedent_modes: tuple[str, ...]  # incidents with these modes show why it matters
    needed_when: re.Pattern[str] | None = None  # plan phrases that make it matter too
    moot_when: re.Pattern[str] | None = None  # plan phrases that make it not apply
    # risk modes that make it matter whenever they are listed at all, even at a low level or
    # raised by precedents alone (a wide blast radius is the change's, whatever its wording)
    matters_when_listed: frozenset[str] = frozenset()

    def applies(self, plan: str, risks: set[str], listed: set[str]) -> bool:
        if self.moot_when is not None and self.moot_when.search(plan):
            return False
        if self.always or self.matters_for & risks or self.matters_when_listed & listed:
            return True
        return bool(self.needed_when is not None and self.needed_when.search(plan))


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-])(?:{pattern})", re.IGNORECASE)


# What may depend on a changed thing, as a plan names it when it checks them.
_DEPENDENTS = (
    r"(?:consumers?|clients?|callers?|dependen\w*|downstream|upstream|owners?|teams?|"
    r"services that|users of|integrations?|interop\w*|who (?:uses|calls|reads)|"
    r"every (?:other )?(?:consumer|service|client|caller))"
)

SAFEGUARDS: tuple[Safeguard, ...] = (
    Safeguard(
        "staged-rollout",
        _words(
            r"canar\w*|staged|(?<!api )stages?\b|phased?|gradual\w*|progressive\w*|incremental\w*|"
            r"one (?:cluster|region|host|node|rack|uplink|zone|site|cell|team|department|"
            r"shard|pop|server|data ?cent(?:er|re)) (?:at a time|first)|one at a time|"
            r"in (?:batches|waves|steps|rings)|batches of|steps of|"
            r"(?<![\d.])(?!100\b)\d+(?:\.\d+)? ?% (?:of|at|per|then)|"  # not "100% of users"
            r"pilot\w*|shadow (?:mode|traffic)|first,? then|smallest first|"
            r"ring \d|"
            r"blue[/-]green|dual-write|expand weekly|at \d+ ?% per|"
            # "region by region", "one namespace per day", "starting with the quietest closets",
            # "internal tools first", "then the rest" (staging first alone is not a stage of
            # production)
            r"(?P<unit>[a-z]+) by (?P=unit)|one [\w-]+ (?:at a time|per (?:day|night|week|"
            r"weekend|window))|start(?:ing)? with (?:the |a |one |two )?(?:\w+ ){0,3}(?:first|"
            r"quiet\w*|low\w*|small\w*|internal|least)|(?:then|before) (?:the )?(?:rest|"
            r"remaining|prod\w*)\b|(?:low|lowest)[- ]traffic \w+ first|"
            r"(?:dev|internal|test|qa) (?:\w+ )?first"
        ),
        frozenset({"global-blast-radius"}),
        False,
        "How will this reach production in stages (a canary or one cluster first), so a "
        "fault stays small?",
        ("global-blast-radius",),
        needed_when=_words(r"purge|hard-delete|all \w+ (?:users|customers|subscribers|hosts)"),
        matters_when_listed=frozenset({"global-blast-radius"}),
    ),
    Safeguard(
        "rollback-plan",
        _words(
            r"roll ?back|rolled back|revert\w*|undo\w*|back ?out|switch(?:ing)? "
            r"the \w+ (?:pointer )?back|kill ?switch|turn(?:s)? the flag off|fall ?back|"
            r"old \w+ (?:stays|remains|keeps)|keeps running|re-?enabl\w*|re-?patch\w*|"
            r"send any \w+ back|restore the previous|previous version stays|"
            # "the colo moves the cables back", "the old cluster stays up read-only"
            r"(?:move|moves|switch|flip|put|boots?|point|route|swing|go|fail) (?:\w+ ){0,3}back\b|"
            r"(?:stays|remains|kept) (?:up|in place|running|read-only|available|warm)|"
            r"remove the \w+ (?:policy|config|flag|rule)"
        ),
        frozenset(),
        True,
        "How is this undone, how long does undoing take, and does undoing depend on the "
        "system this change might break?",
        ("slow-rollback", "control-plane-lockout"),
        moot_when=_words(
            r"purge|hard-delete|drop (?:the )?\w+ (?:table|column|index)|retention|"
            r"sends? (?:the )?[\w ]{0,30}email|batter(?:y|ies)|ups\b|generator"
        ),
    ),
    Safeguard(
        "monitoring",
        _words(
            r"monitor\w*|dashboards?|alert\w*|watch\w*|observ\w*|halt\w*|"
            r"abort\w*|stop if|p9\d|error rates?|slo\w*|synthetic checks?|paging|pages? on-call|"
            r"crash report\w*|crash rates?|\d{3} rate|latency|"
            r"gated on|replica lag exceeds|throttl\w*|noc watches|success rate"
        ),
        frozenset(),
        True,
        "Which signals will show this going wrong within minutes, and what value halts the "
        "rollout?",
        ("detection-gap",),
    ),
    Safeguard(
        "load-test",
        _words(
            r"load[- ]test\w*|stress[- ]test\w*|capacity test\w*|perf(?:ormance)? "
            r"(?:test|environment)|production[- ](?:sized|scale)|benchmark\w*|"
            r"tested (?:at|to) \d+ ?x|shadow traffic|warm (?:it|up|the)|pre-?warm\w*|"
            r"tested against a production|k6|locust|gatling|jmeter|load generator|"
            r"replay\w* (?:\w+ ){0,4}(?:production|prod)\b|at full production traffic|"
            r"\d+k concurrent"  # a soak in staging alone says nothing of production scale
        ),
        frozenset({"load-surge", "cold-start"}),
        False,
        "Has this been tried at production scale (node count, traffic, data size), not only "
        "in staging?",
        ("test-gap", "load-surge", "resource-exhaustion"),
    ),
    Safeguard(
        "break-glass-access",
        _words(
            r"break[- ]glass|out[- ]of[- ]band|console[- ]server|emergency access|"
            r"local admin|fallback access|oob\b|direct (?:node|host) access|"
            r"recovery accounts?"
        ),
        frozenset({"control-plane-lockout"}),
        False,
        "If this breaks the control plane, network or login you use to fix it, how will you "
        "get in (break-glass accounts, out-of-band access) — and was that path tested?",
        ("control-plane-lockout", "circular-dependency"),
    ),
    Safeguard(
        "backup",
        _words(
            r"backups?|backed up|snapshots?|dump\w*|point[- ]in[- ]time|pitr|restore test\w*|"
            r"export\w* first|copy of the (?:data|table)"
        ),
        frozenset({"data-loss"}),
        False,
        "Is there a tested backup or snapshot from just before the destructive step, and how "
        "long does a restore take?",
        ("data-loss",),
        needed_when=_words(
            r"in place|pg_upgrade|drop (?:the )?\w+ (?:table|column|database)|truncat|retention|"
            r"(?:delete|purge|wipe)\w* (?:[\w-]+ ){0,3}(?:rows|records|data|users|accounts|"
            r"objects|tables?)"
        ),
    ),
    Safeguard(
        "dependency-check",
        _words(
            # A check of what depends on it, not a mere mention of consumers or upstreams
            r"depends on|downstream|callers|clients? (?:of|that)|deprecated|compatib\w*|"
            r"pre-?check\w*|who uses|impact on other|interop\w*|"
            r"(?:check|confirm|verif|audit|inventor|list|search|grep|review|ask|contact|notif|"
            r"survey|scan|query|map|trac|identif|enumerat|found|catalog|agree|sign)\w* "
            r"(?:[\w/-]+ ){0,6}" + _DEPENDENTS + r"|" + _DEPENDENTS + r" (?:[\w/-]+ ){0,4}"
            r"(?:checked|confirmed|verified|reviewed|signed off|agreed|contacted|notified|"
            r"identified|listed)"
        ),
        frozenset(
            {
                "dependency-cascade",
                "third-party-outage",
                "circular-dependency",
                "dns-discovery",
                "test-gap",
            }
        ),
        False,
        "What depends on the thing you are changing (services, clients, recovery tools), "
        "and have their owners checked it?",
        ("dependency-cascade", "circular-dependency"),
        needed_when=_words(
            r"upgrade\w* \w+ \d|\d+(?:\.\d+)* ?(?:->|to) ?\d|bump\w*|library|sdk|"
            r"nothing (?:reads|uses)|no longer used|retention|provider|vendor|colo|"
            r"migrat\w*|legacy|remov\w* the (?:old|legacy)|delet\w* the old|replac\w*|"
            r"rate limit|nat gateway|ip address|allowlist|scheduler|airflow"
        ),
    ),
    Safeguard(
        "communication",
        _words(
            r"announc\w*|notif\w*|communicat\w*|status[- ]page|stakeholders?|briefed|heads[- ]up|"
            r"inform\w*|email (?:a week|ahead)|war room|support has been|customers were|"
            r"change calendar|maintenance notice|"
            r"told|tell (?:the |every |all )?\w+|emailed|email (?:every|all|the|each|customers|"
            r"users)|in #[\w-]+|posted? (?:in|to)|on[- ]call (?:is|are|has been|have been) "
            r"(?:aware|briefed|told)|sign[- ]off|signed off"
        ),
        frozenset({"hardware-facility"}),
        False,
        "Who needs to know before and during this change (on-call, support, customers), "
        "and where will updates be posted?",
        ("detection-gap", "slow-rollback"),
        needed_when=_words(
            r"maintenance|downtime|fail (?:the )?\w+ over|failover|org[- ]wide|company[- ]wide|"
            r"effective immediately|colo|over the weekend|hall|facilit\w*|rate limit|"
            r"forced update|every user|all users|customers will|breaking"
        ),
    ),
)

BY_ID = {s.id: s for s in SAFEGUARDS}


# A safeguard the plan names only to say it will be left out: "skip the usual canary batch".
_LEFT_OUT = re.compile(
    r"\b(?:skip|skips|skipped|skipping|bypass\w*|forgo\w*|omit\w*)(?:\s+\w+){0,3}\s+$", re.I
)


def mentioned(plan: str, safeguard: Safeguard) -> str | None:
    """The plan's phrase that covers the safeguard, or None (denials do not count)."""
    for match in safeguard.present.finditer(plan):
        if not _denied(plan, match.start()):
            return match.group(0)
    return None


def dropped(plan: str, safeguard: Safeguard) -> str | None:
    """The plan's phrase that names the safeguard only to leave it out ("no canary this
    time", "skipping the canary stage"), or None. Such a plan always has that gap."""
    first = None
    for match in safeguard.present.finditer(plan):
        if not _denied(plan, match.start()):
            return None  # covered after all
        first = first or match.group(0)
    return first


def _denied(plan: str, start: int) -> bool:
    return is_negated(plan, start) or bool(_LEFT_OUT.search(plan[max(0, start - 60) : start]))
