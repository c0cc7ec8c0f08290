"""Cues of change type and scope in a plan, and the failure modes each one makes likely.

The tagger reads a plan as it would read a postmortem; a reviewer also reads it for what kind
of change it is and how far it reaches. "DaemonSet" means an agent on every node, so the
Kubernetes API feels it; "all production clusters" means no healthy place is left to fall
back to. Each cue names the modes it raises, how strongly (0-1), and why, in plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.signals import is_negated


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    modes: dict[str, float]
    why: str


def _cue(words: str, modes: dict[str, float], why: str) -> Cue:
    return Cue(re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", re.IGNORECASE), modes, why)


CUES: tuple[Cue, ...] = (
    # Scope: how far the change reaches at once.
    _cue(
        r"(?:all|every) (?:[\w-]+ ){0,3}(?:clusters?|regions?|nodes?|hosts?|servers?|pods?|"
        r"edge locations?|pops?|zones?|data ?cent(?:er|re)s?|services?|users?|customers?|"
        r"subscribers?|tenants?|accounts?|devices?|machines?|endpoints?|routers?|switch(?:es)?|"
        r"meshe?s?|pools?|domains?|records?|instances?|brokers?|leaf|certificates?|keys?|"
        r"trust stores?|apps?|clients?|sites?|environments?)|"
        r"all \d[\d,]* \w+|\d[\d,]{2,} (?:hosts|nodes|servers|pods|devices|machines)|"
        r"in one (?:change|go|step|window|release|push)|same day|"
        r"fleet[- ]wide|org[- ]wide|"
        r"company[- ]wide|globally|worldwide|everywhere|at once|simultaneously|in one go|"
        r"100 ?%|same (?:maintenance )?window|across (?:the )?(?:fleet|every|all)|"
        r"effective immediately|all three regions|both (?:edge )?(?:routers|regions|data ?centers)",
        {"global-blast-radius": 0.85},
        "it reaches everything at once, leaving no healthy part to fall back to",
    ),
    # Kubernetes agents and the control plane.
    _cue(
        r"daemon ?sets?|node agents?|agent on every node|sidecars?|operators?|controllers?|"
        r"informers?|list/watch|watch(?:es)? the api",
        {"control-plane-overload": 0.8, "code-deploy": 0.6, "control-plane-lockout": 0.5},
        "software on every node talks to the cluster API, which can be overwhelmed",
    ),
    _cue(
        r"kubernetes|k8s|eks|gke|aks|kubectl|api[- ]servers?|control[- ]plane|etcd|clusters?",
        {"control-plane-overload": 0.35, "control-plane-lockout": 0.25},
        "the change touches the cluster control plane that recovery also depends on",
    ),
    _cue(
        r"(?:upgrade|bump|move|migrate)\w* (?:\w+ ){0,4}(?:kubernetes|k8s|eks|gke|aks|clusters?)",
        {"infra-change": 0.85, "slow-rollback": 0.55, "control-plane-overload": 0.45},
        "a cluster version upgrade is hard to undo once the control plane has moved",
    ),
    # Releases, configuration and infrastructure work.
    _cue(
        r"deploy\w*|release\w*|roll(?:ing)? ?out|ship\w*|new (?:version|build|image)|"
        r"agent|binary|container image|release train|library|sdk|upgrade the client",
        {"code-deploy": 0.6},
        "it ships new code",
    ),
    _cue(
        r"config\w*|feature flag|flag service|flags?|rule ?sets?|rules?|policy|policies|"
        r"settings?|yaml|manifest|content update|ttl|record",
        {"config-change": 0.6},
        "it pushes configuration, which usually reaches everything faster than code",
    ),
    _cue(
        r"upgrade\w*|migrat\w*|maintenance|re-?cabl\w*|fail ?over|patch\w*|replace\w*|"
        r"decommission\w*|resiz\w*|scale (?:down|in)|cut the \w+ fleet|move \w+ hosting|"
        r"switch\w* (?:the )?(?:\w+ ){0,3}(?:provider|vendor|hosting|acquirer)|"
        r"move [\w.]+ (?:\w+ )?hosting|move the remaining|to aws|to gcp|to azure|colo",
        {"infra-change": 0.6},
        "it is planned infrastructure work",
    ),
    _cue(
        r"from [\w.%-]+ (?:\w+ )?to [\w.%-]+|(?:raise|lower|increase|reduce|cut|change|set|"
        r"switch|bump)s? (?:the )?(?:[\w-]+ ){0,4}(?:limit|timeout|ttl|threshold|target|"
        r"size|algorithm|pool|retention|setting|parameter|minimum|maximum|replicas)",
        {"config-change": 0.6},
        "it changes a setting that every caller lives by",
    ),
    # Data.
    _cue(
        r"schema|alter table|add (?:a )?(?:not null )?column|backfill|migration|re-?index|"
        r"bulk (?:update|delete)|rows|migrat\w* (?:[\w-]+ ){0,4}(?:data|buckets?|uploads|"
        r"objects|tb|files|storage)|\d+ ?tb",
        {"data-migration": 0.75, "database-degradation": 0.6},
        "it changes stored data or its schema, which can lock or overload the database",
    ),
    _cue(
        r"(?:delete|drop|purge|truncat|wipe|hard-delete|remove)\w* (?:[\w-]+ ){0,4}(?:rows?|"
        r"records?|tables?|data|accounts|users|objects|buckets?|backups?|snapshots?|logs?|"
        r"topics?|messages|columns?|volumes?)|retention|clean ?up",
        {"data-loss": 0.75, "operator-error": 0.3},
        "it destroys data that may be needed again",
    ),
    _cue(
        r"postgres\w*|mysql|databases?|db|primary|replica|rds|aurora|cassandra|mongo\w*|"
        r"dynamo\w*|redis|memcached|cache|connection pool|elasticsearch",
        {"database-degradation": 0.5},
        "the database or cache in front of it carries the load of this change",
    ),
    _cue(
        r"cache (?:cluster|key|flush)|flush\w*|cold cache|key format|restart all|"
        r"replace the cache|warm|(?:purge|invalidat|clear)\w* (?:[\w-]+ ){0,3}cache|"
        r"cdn cache",
        {"cold-start": 0.65, "retry-storm": 0.35},
        "caches start cold and everything behind them takes the full load",
    ),
    # Network, names and certificates.
    _cue(
        r"bgp|route (?:policy|map)|peering|transit|announce\w*|prefix\w*|routers?|"
        r"switch(?:es)? uplinks?|uplinks?|firewall|vpc|subnet|security groups?|"
        r"service mesh|mesh|istio|envoy|linkerd|nat gateways?|spine|core switch\w*|"
        r"load[- ]balanc\w*|network",
        {"network-partition": 0.7, "control-plane-lockout": 0.3},
        "a network change can cut off the very paths used to reach and repair it",
    ),
    _cue(
        r"dns|ns records?|nameservers?|route ?53|coredns|resolver\w*|a record|cname|"
        r"service discovery|registrar",
        {"dns-discovery": 0.8},
        "names that fail to resolve take down everything that looks them up",
    ),
    _cue(
        r"certificates?|certs?|tls|ssl|expir\w*|renew\w*",
        {"expiry": 0.7},
        "certificates and their expiry dates break all clients at once when wrong",
    ),
    _cue(
        r"passwords?|credentials?|api keys?|secrets?|tokens?|sso|oidc|saml|iam|login|"
        r"identity provider|auth\w*|otp|keys?",
        {"auth-failure": 0.7},
        "credentials and identity changes can lock out clients and people",
    ),
    _cue(
        r"revoke\w*|disable all|sso[- ]only|rotate all|bgp|firewall|security groups?|spine|"
        r"core switch\w*|ssh|vpn|bastion\w*|signing key|firmware",
        {"control-plane-lockout": 0.6},
        "revoking access can also remove the access needed to undo the change",
    ),
    # Load and capacity.
    _cue(
        r"traffic|launch\w*|campaign|sale|email to|subscribers|peak|black friday|"
        r"marketing|push notification|instances to save|scale down|fewer instances|"
        r"cron|nightly|batch job|every user|decommission \d|\d+ of the \d+|"
        r"from \d+ to \d+ instances",
        {"load-surge": 0.65, "resource-exhaustion": 0.45},
        "it brings a burst of work that capacity has to absorb",
    ),
    _cue(
        r"without caching|no cache|retr(?:y|ies)|timeouts?|connection pool",
        {"retry-storm": 0.4, "resource-exhaustion": 0.5, "dependency-cascade": 0.5},
        "callers waiting on a slow dependency pile up",
    ),
    _cue(
        r"ns records?|registrar|nameservers?|in place|pg_upgrade|not null column|alter table|"
        r"(?:upgrade|bump)\w* (?:\w+ ){0,3}(?:kubernetes|k8s|eks|gke|postgres\w*|mysql)|"
        r"content update|store release|app store|mobile app|firmware|automatic update|"
        r"ttl|retention|forced update|kernel|delet\w* the old|remov\w* the old|in one change",
        {"slow-rollback": 0.6},
        "once it has spread, undoing it takes far longer than doing it",
    ),
    # Vendors, time, facilities.
    _cue(
        r"vendor\w*|provider\w*|third[- ]party|saas|acquirer|processor|upstream api",
        {"third-party-outage": 0.65, "dependency-cascade": 0.35},
        "it puts an outside party on the critical path",
    ),
    _cue(
        r"leap (?:second|year)|daylight saving|dst|time ?zones?|ntp|clock\w*|midnight|"
        r"new year|date format|epoch|crontab|scheduler|airflow|nightly|schedul\w*",
        {"time-handling": 0.75},
        "time and calendar edges break code that assumed they would not happen",
    ),
    _cue(
        r"ups|generators?|batter(?:y|ies)|power|cooling|hvac|racks?|hall|data ?cent(?:er|re)|"
        r"facility|facilities",
        {"hardware-facility": 0.75},
        "power and facility work can take whole rooms of hardware down",
    ),
    _cue(
        r"regex\w*|regular expression|parser|request bodies|payload\w*|input validation",
        {"bad-input": 0.6, "resource-exhaustion": 0.4},
        "new parsing of untrusted input can crash or pin CPUs on odd input",
    ),
    _cue(
        r"manual\w*|by hand|script|directly on the primary|run the \w+ script|console",
        {"operator-error": 0.5},
        "manual steps on production are where typos become outages",
    ),
    _cue(
        r"endpoint[- ]security|sensor|antivirus|edr|kernel (?:driver|module)|automatic update",
        {"config-change": 0.7, "software-defect": 0.55, "slow-rollback": 0.6},
        "agents that update themselves everywhere can crash hosts that then cannot be fixed remotely",
    ),
)


@dataclass(frozen=True)
class CueHit:
    mode: str
    strength: float
    phrase: str
    why: str
    consequence: bool = False  # raised because a cause it follows from was raised


# Modes that follow from others: when the API servers are overwhelmed, the rollback that
# needs them fails too.
STRONG_CUE = 0.75  # a cue this strong raises its consequences

CONSEQUENCES = (
    (
        "control-plane-overload",
        "control-plane-lockout",
        0.75,
        "an overloaded control plane is also the one you need to roll the change back",
    ),
)


def find_cues(
    plan: str, scores: dict[str, float] | None = None, thresholds: dict[str, float] | None = None
) -> list[CueHit]:
    """Every mode a cue in the plan raises, with the phrase that raised it (affirmed only).

    A mode that a strong cue or the tagger (``scores`` over ``thresholds``) raises also
    raises its consequences (CONSEQUENCES)."""
    hits: list[CueHit] = []
    for cue in CUES:
        for match in cue.pattern.finditer(plan):
            if is_negated(plan, match.start()):
                continue
            for mode, strength in cue.modes.items():
                hits.append(CueHit(mode, strength, match.group(0), cue.why))
            break  # one phrase per cue is enough to say why
    for cause, effect, strength, why in CONSEQUENCES:
        strong = [h for h in hits if h.mode == cause and h.strength >= STRONG_CUE]
        tagged = bool(scores and thresholds and scores.get(cause, 0) >= thresholds.get(cause, 1))
        if strong or tagged:
            phrase = strong[0].phrase if strong else "the plan's wording"
            hits.append(CueHit(effect, strength, phrase, why, consequence=True))
    return hits


def strongest(hits: list[CueHit]) -> dict[str, float]:
    """The strongest cue strength of each mode the hits raise."""
    out: dict[str, float] = {}
    for hit in hits:
        out[hit.mode] = max(out.get(hit.mode, 0.0), hit.strength)
    return out
