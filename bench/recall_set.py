"""A labelled conversation set for semantic recall quality: 10 threads, 220 messages, 30 queries.

One resource (``u-1``) talks about ten unrelated subjects, one thread each, eleven
user messages and eleven assistant answers per thread. Each query paraphrases a fact
the user stated once (few words in common with it), and its right answer is that user
message. :func:`recall_at` measures the share of queries whose answer is among the
``k`` nearest messages of the resource: ``make bench`` reports it per backend, and
``tests/agents/test_recall_quality.py`` asserts it against a floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RESOURCE = "u-1"

# (thread id, [(user, assistant), ...]); the fact a query asks about is in a user line.
THREADS: list[tuple[str, list[tuple[str, str]]]] = [
    ("kitchen", [
        ("We finally decided to renovate the kitchen this autumn.",
         "Exciting! Do you have a budget and a rough timeline in mind?"),
        ("The budget is about 18,000 euros, and the contractor starts on the 3rd of October.",
         "That is a workable budget for cabinets, counters and some appliances."),
        ("I want white oak cabinets with brass handles.",
         "White oak with brass hardware gives a warm, timeless look."),
        ("For the counters we are choosing a pale grey quartz.",
         "Quartz is durable and needs no sealing, a good choice for a busy kitchen."),
        ("The old gas stove will be replaced by an induction hob.",
         "Induction heats fast and is easy to clean; check your pans are magnetic."),
        ("Our ceiling is quite low, only 2.4 metres.",
         "Then shorter upper cabinets or open shelves keep the room from feeling cramped."),
        ("Should the island have seating for three people?",
         "Allow about 60 cm of counter per seat and 30 cm of knee space."),
        ("The floor will be large terracotta tiles from a supplier in Porto.",
         "Terracotta needs sealing, but it ages beautifully."),
        ("How long does tiling usually take?",
         "For a normal kitchen floor, two to four days plus curing time."),
        ("We need to eat somewhere else for three weeks during the works.",
         "A temporary kitchen corner with a microwave and kettle helps a lot."),
        ("What lighting works over an island?",
         "Two or three pendants about 75 cm above the counter work well."),
    ]),
    ("marathon", [
        ("I signed up for the Berlin marathon next September.",
         "Congratulations! Is this your first marathon?"),
        ("Yes, my first one. My longest run so far is 21 kilometres.",
         "A half marathon base is a solid start for a 16-week plan."),
        ("I can train four days a week, mornings before work.",
         "Four days is enough: one long run, one tempo run and two easy runs."),
        ("My goal is to finish in under four hours.",
         "Sub-four needs about 5:40 per kilometre on average."),
        ("My left knee hurts after long downhill runs.",
         "Shorten your stride downhill and consider seeing a physiotherapist."),
        ("I usually eat oatmeal with banana before a long run.",
         "That is easily digested carbohydrate, a classic pre-run meal."),
        ("What should I drink during the race?",
         "Take water or sports drink at most stations, about 150-250 ml each."),
        ("I run in a pair of Brooks Ghost shoes with 600 km on them.",
         "Most running shoes last 600-800 km; a new pair for the race may be wise."),
        ("How many gels should I take?",
         "One gel every 40-45 minutes after the first hour is a common approach."),
        ("My running club meets on Thursday evenings in the park.",
         "Group runs are great for tempo work and motivation."),
        ("Should I taper before the race?",
         "Yes, reduce volume over the last two to three weeks."),
    ]),
    ("japanese", [
        ("I started learning Japanese because we are moving to Osaka in spring.",
         "A great reason to learn! How far along are you?"),
        ("I know hiragana and katakana already, but no kanji yet.",
         "Then a kanji course with spaced repetition is the natural next step."),
        ("I study with Anki for twenty minutes every evening.",
         "Consistency like that adds up quickly."),
        ("My teacher, Mrs. Tanaka, gives me lessons on Saturdays over video.",
         "A weekly tutor keeps you speaking, which apps cannot do."),
        ("Particles like wa and ga confuse me the most.",
         "Wa marks the topic and ga the subject; lots of example sentences help."),
        ("I want to pass the JLPT N4 exam in December.",
         "N4 needs roughly 300 kanji and 1,500 words."),
        ("Is keigo necessary for daily life?",
         "Basic polite forms are enough at first; full keigo matters at work."),
        ("I watch anime with Japanese subtitles to practise reading.",
         "Subtitles are good reading practice at native speed."),
        ("How do I practise listening?",
         "Podcasts for learners and shadowing are effective."),
        ("My company will pay for an intensive course once we arrive.",
         "That is a generous benefit; immersion speeds things up."),
        ("What is the best dictionary app?",
         "Many learners like takoboto or jisho for quick look-ups."),
    ]),
    ("dog", [
        ("We are adopting a dog from the shelter next week.",
         "How lovely! Do you know which dog yet?"),
        ("She is a three-year-old greyhound called Pepper.",
         "Retired greyhounds are gentle and surprisingly lazy indoors."),
        ("Our flat is on the fourth floor without a lift.",
         "Stairs are fine for a healthy adult greyhound; go slowly at first."),
        ("My partner is slightly allergic to cats but fine with dogs.",
         "Greyhounds shed little, which helps with mild allergies."),
        ("What food should she eat?",
         "A good quality adult dog food, in two meals a day."),
        ("The shelter said she is scared of thunderstorms.",
         "A quiet den and calm music can help during storms."),
        ("I work from home on Mondays and Fridays.",
         "Those days are ideal for building her routine."),
        ("Do greyhounds need a lot of exercise?",
         "Two walks a day and an occasional sprint in a fenced area are enough."),
        ("We bought a padded bed and a martingale collar.",
         "Martingale collars suit greyhounds' narrow heads."),
        ("Our vet appointment is booked for the 12th.",
         "A first check-up is a good idea after adoption."),
        ("Can she be left alone for a few hours?",
         "Build up alone time gradually, starting with short absences."),
    ]),
    ("iceland", [
        ("We are planning a road trip around Iceland in July.",
         "Iceland in summer has midnight sun and open highland roads."),
        ("We will rent a 4x4 campervan for ten days.",
         "A 4x4 lets you drive the F-roads into the highlands."),
        ("We land at Keflavik on the 8th and fly home on the 18th.",
         "Ten days is enough for the Ring Road at a relaxed pace."),
        ("I really want to see puffins.",
         "Puffins nest at Borgarfjordur Eystri and the Westman Islands in summer."),
        ("My brother is coming too, and he is vegetarian.",
         "Supermarkets like Bonus have plenty of vegetarian options."),
        ("Is it expensive to eat out?",
         "Yes, restaurant meals are pricey; cooking in the van saves a lot."),
        ("We would like to hike to a glacier.",
         "Guided glacier walks at Skaftafell or Solheimajokull are popular."),
        ("Do we need to book campsites in advance?",
         "Most campsites are first come, first served, but popular ones fill up."),
        ("I get seasick easily, so no whale watching boats please.",
         "You can watch for whales from shore near Husavik instead."),
        ("What clothes should we pack?",
         "Layers, waterproofs and a warm hat, even in July."),
        ("Are the hot springs worth it?",
         "Yes, natural pools are a highlight of the trip."),
    ]),
    ("taxes", [
        ("I became self-employed as a graphic designer this year.",
         "Congratulations! Keeping good records from the start helps."),
        ("My income last year was around 52,000 before expenses.",
         "Then you will likely pay quarterly estimated taxes."),
        ("I work from a spare room that is 12 square metres.",
         "A home office can be partly deductible if used only for work."),
        ("I bought a new laptop for 2,300 in March.",
         "Equipment like that can usually be depreciated or expensed."),
        ("Do I need a separate bank account for the business?",
         "It is not always required, but it makes bookkeeping much easier."),
        ("My accountant is called Laura and charges a fixed fee.",
         "A fixed fee makes the cost predictable."),
        ("How long should I keep receipts?",
         "Generally several years; check the rule in your country."),
        ("I also have a small rental income from a garage.",
         "Rental income is usually declared separately from business income."),
        ("Can I deduct my phone bill?",
         "The business share of your phone bill is usually deductible."),
        ("The tax deadline I worry about is the 31st of January.",
         "Setting money aside every month avoids a surprise."),
        ("Should I open a pension plan?",
         "A private pension can reduce your taxable income."),
    ]),
    ("garden", [
        ("I am starting a vegetable garden in our backyard.",
         "Great! How much space do you have?"),
        ("The plot is about five by three metres and gets morning sun.",
         "Morning sun suits leafy greens and herbs well."),
        ("The soil is heavy clay and drains poorly.",
         "Raised beds with compost will fix most drainage problems."),
        ("I want to grow tomatoes, courgettes and lots of basil.",
         "Those love warmth; give tomatoes the sunniest spot."),
        ("Slugs ate all my lettuce last year.",
         "Beer traps, copper tape or evening hand-picking help against slugs."),
        ("When should I sow tomato seeds indoors?",
         "About six to eight weeks before the last frost."),
        ("Our last frost is usually around mid-May.",
         "Then start tomatoes indoors in late March."),
        ("I collect rainwater in two barrels of 200 litres each.",
         "Rainwater is perfect for vegetables."),
        ("My neighbour gave me rhubarb crowns.",
         "Rhubarb is perennial; do not harvest in its first year."),
        ("Should I use mulch?",
         "Mulch keeps moisture in and weeds down."),
        ("I want to try companion planting.",
         "Basil next to tomatoes is a classic pairing."),
    ]),
    ("interview", [
        ("I have a job interview for a backend engineer position next Tuesday.",
         "Good luck! What kind of company is it?"),
        ("It is a fintech startup in Amsterdam working on payments.",
         "Expect questions about consistency and idempotency in payment flows."),
        ("The first round is a ninety-minute live coding session in Go.",
         "Practise talking through your reasoning while you code."),
        ("I mostly used Python and Java before, Go only on side projects.",
         "Mention how quickly you picked up Go; they value learning speed."),
        ("They asked me to prepare a system design for a URL shortener.",
         "Cover hashing, storage, caching and read-heavy scaling."),
        ("The salary range they gave is 85 to 95 thousand.",
         "Know your target number before the offer stage."),
        ("How do I answer 'what is your biggest weakness'?",
         "Pick a real weakness and show how you are improving it."),
        ("My current notice period is two months.",
         "Tell them early; startups sometimes want faster starts."),
        ("Should I ask about on-call duties?",
         "Yes, on-call expectations are a fair question."),
        ("The hiring manager's name is Pieter.",
         "Looking him up beforehand helps you tailor questions."),
        ("What questions should I ask at the end?",
         "Ask about the team, the roadmap and how success is measured."),
    ]),
    ("car", [
        ("I am looking for a used car under 9,000.",
         "That is a reasonable budget for a reliable small car."),
        ("I drive about 60 kilometres a day commuting on the motorway.",
         "A diesel or a hybrid would be economical for that."),
        ("I am considering a 2016 Toyota Auris hybrid with 140,000 km.",
         "The Auris hybrid has a very good reliability record."),
        ("The seller says the timing belt was changed last year.",
         "Ask for the invoice as proof of the service."),
        ("What should I check on a test drive?",
         "Listen for noises, test the brakes and check all electrics."),
        ("My mechanic friend Marco offered to inspect it.",
         "A pre-purchase inspection by someone you trust is worth it."),
        ("The car has a small dent on the rear bumper.",
         "Cosmetic damage is a good lever for negotiating the price."),
        ("Insurance for me will be higher because I am 23.",
         "Young drivers pay more; compare several insurers."),
        ("Should I buy from a dealer or privately?",
         "Dealers offer warranties; private sales are often cheaper."),
        ("I need a tow bar for our small trailer.",
         "Check the car's towing capacity in the manual."),
        ("How do I check the service history?",
         "Look at the service book and ask for garage receipts."),
    ]),
    ("party", [
        ("My daughter Emma turns seven on the 22nd of May.",
         "A lovely age for a themed party!"),
        ("She wants a dinosaur themed party.",
         "Dinosaur parties are easy to decorate and fun for kids."),
        ("We are inviting twelve children from her class.",
         "Twelve is manageable with two or three adults helping."),
        ("One of the kids has a severe peanut allergy.",
         "Keep the whole party nut-free and tell the other parents."),
        ("We will hold it in the community hall near the school.",
         "A hall gives room for games if the weather is bad."),
        ("What games work for seven year olds?",
         "A fossil dig in a sandbox and a dinosaur egg hunt are hits."),
        ("My mother is baking a volcano cake.",
         "A volcano cake with dry ice smoke will be unforgettable."),
        ("The party runs from two to five in the afternoon.",
         "Three hours is about the limit for that age."),
        ("Should I give goody bags?",
         "Small bags with a toy dinosaur and stickers are enough."),
        ("My husband will dress up as a palaeontologist.",
         "A costumed host makes the theme come alive."),
        ("How do I handle kids who do not want to join games?",
         "Offer a quiet colouring corner as an alternative."),
    ]),
]

# (query, thread id, index of the user message that answers it)
QUERIES: list[tuple[str, str, int]] = [
    ("How much money did we set aside for redoing the kitchen?", "kitchen", 1),
    ("What material did we pick for the worktops?", "kitchen", 3),
    ("What kind of cooktop is going in?", "kitchen", 4),
    ("What finishing time am I aiming for in the race?", "marathon", 3),
    ("Which joint gives me pain when running down hills?", "marathon", 4),
    ("Which sneakers do I train in?", "marathon", 7),
    ("Which city are we relocating to?", "japanese", 0),
    ("Who is my language tutor?", "japanese", 3),
    ("Which language certificate am I taking at the end of the year?", "japanese", 5),
    ("What breed is the dog we are getting?", "dog", 1),
    ("What is the new dog afraid of?", "dog", 5),
    ("When is the first checkup at the animal doctor?", "dog", 9),
    ("What vehicle are we hiring for the holiday?", "iceland", 1),
    ("Which birds am I hoping to spot?", "iceland", 3),
    ("Why should we avoid boat tours?", "iceland", 8),
    ("What do I do for a living now that I work for myself?", "taxes", 0),
    ("What computer purchase did I make this year?", "taxes", 3),
    ("Which date is the filing deadline I am anxious about?", "taxes", 9),
    ("What is wrong with the earth in my yard?", "garden", 2),
    ("What pest destroyed my salad leaves?", "garden", 4),
    ("How do I store water for the plants?", "garden", 7),
    ("What programming language is the coding test in?", "interview", 2),
    ("What pay did the company offer?", "interview", 5),
    ("Who will I meet as my future boss?", "interview", 9),
    ("How far do I drive to work every day?", "car", 1),
    ("Which model am I thinking of buying?", "car", 2),
    ("Who will look over the car before I buy it?", "car", 5),
    ("Is any guest allergic to something?", "party", 3),
    ("Where is the birthday celebration taking place?", "party", 4),
    ("Who is making the birthday cake?", "party", 6),
]


@dataclass(frozen=True)
class LabelledMessage:
    """One message of the set."""

    id: str
    thread_id: str
    role: str
    text: str
    created_at: datetime


def messages() -> list[LabelledMessage]:
    """Every message of the set, threads one after another, a minute apart."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    out: list[LabelledMessage] = []
    for thread_id, turns in THREADS:
        for n, (user, assistant) in enumerate(turns):
            for role, text, offset in (("user", user, 0), ("assistant", assistant, 1)):
                out.append(LabelledMessage(f"{thread_id}-{2 * n + offset:02d}", thread_id, role,
                                           text, start + timedelta(minutes=len(out))))
    return out


def answer_id(thread_id: str, user_index: int) -> str:
    """The id of the ``user_index``-th user message of a thread."""
    return f"{thread_id}-{2 * user_index:02d}"


def recall_at(k: int, search: Callable[[str, int], Sequence[str]]) -> tuple[float, list[str]]:
    """The share of queries whose answer is among ``search(query, k)``'s ids, and the misses."""
    misses = []
    for query, thread_id, index in QUERIES:
        if answer_id(thread_id, index) not in list(search(query, k))[:k]:
            misses.append(query)
    return 1 - len(misses) / len(QUERIES), misses


def load(store: Any, vectors: dict[str, list[float]], embedder_id: str) -> None:
    """Save the set's threads and messages into ``store`` and upsert their ``vectors``."""
    from storage.records import Message, MessageVector, Thread

    items = messages()
    saved: list[Message] = []
    for thread_id, _ in THREADS:
        store.memory.save_thread(Thread(id=thread_id, resource_id=RESOURCE, title=thread_id))
        # One thread per call: a turn-sized write on every backend (DynamoDB transactions
        # hold at most 100 actions).
        saved += store.memory.save_messages([
            Message(id=m.id, thread_id=m.thread_id, role=m.role, resource_id=RESOURCE,
                    content={"format": 2, "parts": [{"type": "text", "text": m.text}],
                             "content": m.text},
                    created_at=m.created_at)
            for m in items if m.thread_id == thread_id])
    store.vectors.upsert([
        MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=RESOURCE,
                      created_at=m.created_at, vector=tuple(vectors[m.id]), embedder=embedder_id)
        for m in saved])


__all__ = ["QUERIES", "RESOURCE", "THREADS", "LabelledMessage", "answer_id", "load", "messages",
           "recall_at"]
