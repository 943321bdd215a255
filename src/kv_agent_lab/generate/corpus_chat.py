"""Chat phrases any persona may use: reply openers and closers, follow-up openers, generic
reply sentences, and the context, follow-up questions and sign-offs users add."""

from __future__ import annotations

REPLY_OPENERS: tuple[str, ...] = (
    "Here's what I found.",
    "Short answer: yes, but with one caveat.",
    "I looked into this, and there are two separate issues.",
    "Thanks for the details — that narrows it down a lot.",
    "Good catch; this is worth fixing properly.",
    "I checked this against the current data.",
    "Let me walk through what is happening.",
    "Here is where things stand.",
    "I reproduced the problem and know the cause.",
    "This turned out to be simpler than it looked.",
)
REPLY_CLOSERS: tuple[str, ...] = (
    "Let me know if you want me to go ahead with the next step.",
    "If anything here doesn't match what you see, send me the details and I'll recheck.",
    "I can turn this into a ticket or a short write-up if that helps.",
    "Want me to keep an eye on it and report back later today?",
    "Happy to go deeper on any of these points.",
    "Tell me which option you prefer and I'll prepare it.",
    "I'll stop here unless you want the full breakdown.",
    "That should unblock you; ping me if it comes back.",
)
FOLLOWUP_OPENERS: tuple[str, ...] = (
    "Thanks, that helped. Going back to {previous_topic}:",
    "One more thing about {previous_topic}.",
    "I tried what you suggested for {previous_topic}, and it mostly worked.",
    "Following up on {previous_topic} —",
    "Sorry, back to {previous_topic} again.",
    "OK, so on {previous_topic}, the team has a question.",
    "Quick follow-up on {previous_topic}.",
    "Before I close out {previous_topic}:",
)
GENERIC_REPLY_SENTENCES: tuple[str, ...] = (
    "I double-checked this against a second source before writing it up.",
    "Nothing I found contradicts what you described.",
    "I focused on the points that change the decision.",
    "The earlier numbers in this thread still hold; only the explanation changes.",
    "If this turns out to be wrong, the fastest way to tell is to repeat the first check tomorrow.",
    "I have not changed anything yet; everything above is read-only.",
    "There is one open question I could not answer from the data I have access to.",
    "The timeline matches what you saw, give or take a few minutes.",
    "I would treat the second point as a hypothesis until we confirm it.",
    "This is consistent with what the team reported last week.",
    "I have left out details that do not change the conclusion.",
    "If you want, I can write this up in the format your team uses for reviews.",
)
SHARED_USER_CONTEXT: tuple[str, ...] = (
    "{person} from the {team} team asked me to follow up on this.",
    "This came up in the planning meeting on {date}.",
    "I'm covering for {person} this week, so I may be missing context.",
    "For context, we're a team of {num} on the {plan} plan.",
    "{person} thinks it might be related to the {project} rollout.",
    "This is blocking the {version} release.",
    "I searched the wiki and only found a page from 2022.",
    "We're in the Berlin office, so mornings UTC work best for us.",
    "Our quarterly review is on {date}, which is why I'm asking now.",
    "I'd rather understand the cause than just apply a workaround.",
)
SHARED_FOLLOWUPS: tuple[str, ...] = (
    "What would you check next if this doesn't pan out?",
    "Can you summarise this in two sentences for {person}?",
    "Is there anything in the {version} release notes that explains it?",
    "How long would the proper fix take?",
    "What do you need from me to finish this?",
    "Does this affect the {project} work as well?",
    "Which of these should we do first?",
    "What's the worst case if we ignore it for a week?",
    "Could you double-check the numbers from earlier?",
    "Would {person} need to approve this?",
)
USER_CLOSERS: tuple[str, ...] = (
    "Thanks!", "Appreciate the help.", "Let me know if you need more context.",
    "No rush, but today would be great.", "Thanks in advance.",
    "Happy to jump on a call if easier.",
)
REFERENCE_OPENERS: tuple[str, ...] = (
    "I dug into {ref}.", "I went through {ref} in detail.",
    "I checked {ref} against the latest state.", "I looked at {ref} again.",
)
