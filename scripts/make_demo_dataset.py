#!/usr/bin/env python3
"""Generate the distillery demo dataset: short assistant / customer-support requests, 12 intents.

Every sentence is composed from hand-written templates and slot fillers in this file (written for
distillery, released under CC0-1.0; no third-party text is used). The generator is deterministic:
rerunning it reproduces ``train.csv`` and ``test.csv`` byte for byte.

About 20 % of each intent's templates are held out for the test split only, so test sentences use
phrasings never seen in training.

Usage::

    python scripts/make_demo_dataset.py            # (re)write the CSVs
    python scripts/make_demo_dataset.py --check    # verify the shipped CSVs are up to date
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import string
import sys
from pathlib import Path

SEED = 20240611
TRAIN_PER_CLASS = 90
TEST_PER_CLASS = 30
HELD_OUT_FRACTION = 0.2
MIN_WORDS, MAX_WORDS = 3, 25

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "distillery" / "resources" / "demo"

# --------------------------------------------------------------------------------------------------
# Slot fillers. A placeholder such as ``{city2}`` draws from ``SLOTS["city"]``; placeholders sharing a
# base name inside one template always get distinct values.
# --------------------------------------------------------------------------------------------------
# fmt: off
SLOTS: dict[str, list[str]] = {
    "amount": [
        "$50", "$20", "$1,200", "$75.50", "$300", "£40", "£250", "€35", "€1,000", "100 dollars",
        "250 euros", "60 quid", "$15", "$2,500", "500 pounds", "$9.99", "$400", "€80", "30 bucks",
        "$120", "£18.75", "$650",
    ],
    "account": [
        "checking account", "savings account", "current account", "joint account", "business account",
        "main account", "holiday savings", "student account", "checking", "savings",
    ],
    "name": [
        "Maria", "John", "Priya", "Ahmed", "Sophie", "Kenji", "Lucas", "Fatima", "Tom", "Olga", "Diego",
        "Emma", "Chen", "Grace", "Mohammed", "Anna", "Ravi", "Zoe", "Pierre", "Nina", "Sam", "Lena",
    ],
    "relation": [
        "mom", "dad", "sister", "brother", "son", "daughter", "wife", "husband", "roommate", "grandma",
        "partner", "boss",
    ],
    "reason": [
        "dinner", "rent", "the concert tickets", "groceries", "the taxi", "the birthday gift", "gas",
        "last night's drinks", "the electricity bill", "the holiday", "lunch", "the wedding present",
    ],
    "digits": ["4821", "0093", "7710", "3356", "1208", "9942", "5567", "6631", "2290", "8014"],
    "date": [
        "March 3rd", "the 15th", "June 21", "Friday", "12/05", "October 2nd", "the 1st", "Jan 9",
        "Thursday", "April 30th", "Monday", "the 22nd", "May 8", "Sunday", "August 14th", "the 3rd",
    ],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "city": [
        "New York", "London", "Paris", "Berlin", "Tokyo", "Chicago", "Madrid", "Toronto", "Sydney",
        "Dublin", "Rome", "Boston", "Seattle", "Lisbon", "Denver", "Amsterdam", "Mumbai", "Austin",
        "Vienna", "Miami", "Oslo", "Singapore",
    ],
    "cabin": ["economy", "business", "first", "premium economy"],
    "n": ["2", "3", "4", "two", "three", "four", "five", "6"],
    "time": [
        "6am", "6:30", "7 am", "5:45 am", "8 o'clock", "7:15", "noon", "9pm", "6:00", "4:30 am",
        "half past six", "10:20", "7:50am", "quarter to eight", "11 pm", "5am",
    ],
    "minutes": ["5", "10", "15", "20", "25", "30", "45", "ten", "twenty", "90"],
    "label": ["gym", "meds", "school run", "work", "call mum", "yoga", "dentist", "bins out"],
    "event": [
        "my train", "the bus", "my interview", "the meeting", "my flight", "the exam", "class",
        "work",
    ],
    "when": [
        "today", "tomorrow", "tonight", "this afternoon", "this weekend", "tomorrow morning",
        "on Saturday", "later", "this evening", "on Monday",
    ],
    "booking": [
        "hotel booking", "reservation", "flight", "table reservation", "appointment", "car rental",
        "booking", "room", "tickets", "spa appointment", "train tickets", "dinner reservation",
    ],
    "restaurant": [
        "Luigi's", "the Golden Dragon", "Taco Town", "Burger Barn", "Sushi Zen", "the Curry House",
        "Pizza Palace", "the corner deli", "Green Bowl", "Noodle Bar", "Mama Rosa's", "the Kebab Shop",
    ],
    "code": ["AB12CD", "XK9-4471", "#558210", "QW7RT2", "1Z999AA10", "ORD-30417", "PLM882", "#10293"],
    "song": [
        "Blue Skies", "Midnight Train", "Summer Rain", "Golden Hour", "Paper Hearts", "City Lights",
        "Ocean Eyes", "Dancing Alone", "Wild Horses", "Yellow Moon", "Electric Love", "Slow Burn",
    ],
    "artist": [
        "the Beatles", "Taylor Swift", "Miles Davis", "Adele", "Queen", "Bob Marley", "Beyonce",
        "Coldplay", "Mozart", "Drake", "Fleetwood Mac", "Nina Simone", "Ed Sheeran",
    ],
    "genre": [
        "jazz", "rock", "classical", "hip hop", "lofi", "country", "reggae", "pop", "blues", "techno",
        "indie", "80s hits", "piano music", "metal",
    ],
    "playlist": ["workout", "chill", "road trip", "focus", "party", "sleep", "Sunday morning", "running"],
    "room": ["kitchen", "living room", "bedroom", "office", "car", "bathroom", "garden"],
    "activity": [
        "my workout", "studying", "a dinner party", "cooking", "the drive", "cleaning the house",
        "a long run", "falling asleep",
    ],
    "activity_verb": ["cook", "study", "clean", "work", "take a bath", "read", "do the dishes"],
    "station": ["Jazz FM", "BBC Radio 2", "Kiss FM", "Classic Hits 101", "the local news station"],
    "dish": [
        "pepperoni pizza", "pad thai", "burger", "chicken curry", "sushi platter", "burrito",
        "caesar salad", "ramen", "kebab", "fish and chips", "veggie wrap", "margherita pizza",
        "chicken wings", "poke bowl", "lasagna", "falafel plate",
    ],
    "topping": ["cheese", "onions", "mushrooms", "bacon", "jalapenos", "sauce", "olives", "avocado"],
    "cuisine": ["chinese", "thai", "indian", "italian", "mexican", "japanese", "greek", "korean"],
    "drink": ["coke", "lemonade", "iced tea", "milkshake", "sparkling water", "beer", "orange juice"],
    "location": ["office", "home", "hotel", "flat", "work address", "apartment"],
    "service": [
        "email", "online banking", "Netflix", "work", "school portal", "PayPal", "Instagram",
        "Spotify", "Amazon", "Outlook", "gym app", "mobile banking",
    ],
    "card": [
        "credit card", "debit card", "bank card", "visa", "mastercard", "card", "ATM card",
        "business card", "travel card",
    ],
    "place": [
        "the supermarket", "the gym", "a restaurant", "the airport", "the gas station", "the bar",
        "the mall", "work", "the train station", "the cinema",
    ],
    "email": ["jsmith@mail.com", "my gmail", "my work email", "anna.k@example.org", "my old hotmail"],
    "username": ["mike_88", "sunny.day", "tgreen", "pkumar21", "lola_b", "admin2"],
    "shop": ["Amazon", "eBay", "IKEA", "the online store", "Zara", "Best Buy", "Etsy", "Walmart"],
    "item": [
        "new phone", "shoes", "headphones", "laptop", "books", "sofa", "birthday present", "jacket",
        "parcel", "TV", "printer ink", "coffee machine", "order",
    ],
    "carrier": ["UPS", "FedEx", "DHL", "USPS", "Royal Mail", "the courier"],
    "tracking": ["1Z999AA10123456784", "JD014600006281", "9400110898825022", "RR123456785GB", "77341"],
    "device": [
        "laptop", "phone", "iPad", "tablet", "PC", "router", "smart TV", "Macbook", "printer",
        "android phone", "smartwatch", "computer",
    ],
    "app": ["banking", "email", "Zoom", "Teams", "calendar", "camera", "Spotify", "shopping", "maps"],
    "errcode": ["404", "500", "0x80070005", "E-102", "code 12", "403", "timeout"],
    "action": [
        "log in", "upload a photo", "make a payment", "open a file", "print", "join a call",
        "check out", "download the update",
    ],
}
# fmt: on

# --------------------------------------------------------------------------------------------------
# Templates: 45-50 per intent, hand-written. Some words deliberately appear in several intents
# (order, account, card, flight, cancel, app, locked, tomorrow...) so the task is not trivial.
# --------------------------------------------------------------------------------------------------
TEMPLATES: dict[str, list[str]] = {
    "check_balance": [
        "what's my balance",
        "how much money do I have in my {account}",
        "check the balance on my {account}",
        "can you tell me how much is left in my {account}",
        "what is the current balance of my {account}",
        "show me my {account} balance",
        "how much do I have left to spend this month",
        "did my paycheck of {amount} arrive in my {account} yet",
        "am I overdrawn on my {account}",
        "show me my balance",
        "I need to know my available funds before I pay {name}",
        "how much cash is in my {account} right now",
        "is there enough in my {account} to cover {amount}",
        "give me the balance for the account ending in {digits}",
        "what's the remaining balance on my {card}",
        "tell me what I've got in savings",
        "could you check how much money is sitting in my {account}",
        "how low is my balance after the payments on {date}",
        "whats in my account",
        "do I have at least {amount} in my {account}",
        "read out my balance",
        "I want to see how much money I have",
        "check funds in my {account}",
        "what was my balance on {date}",
        "how much is available on the card ending {digits}",
        "how much money is in my {account} at the moment",
        "can I afford a {amount} purchase with what's in my {account}",
        "my {account}, how much is in it",
        "pull up my account balance",
        "has my balance dropped below {amount}",
        "did the {amount} I sent {name} already come out of my {account}",
        "before I book the flight to {city}, how much money have I got",
        "after paying for {reason}, what's left in my account",
        "am I in the red again",
        "I'm not sure I can pay {name} back yet, what's in my {account}",
        "is my card maxed out or is there still some credit left",
        "just checking if the refund of {amount} came through to my {account}",
        "how much will I have left once rent goes out on {date}",
        "am I broke until payday",
        "what does my {account} look like after the transfer to {name}",
        "tell me my available credit on the {card}",
        "what's my total across all my accounts",
        "how much have I got left after sending {name} {amount}",
        "I want to order a {dish} but do I have enough money in my {account}",
        "is my {card} balance high enough to book the flight to {city}",
    ],
    "transfer_money": [
        "send {amount} to {name}",
        "transfer {amount} from my {account} to my {account2}",
        "I need to pay {name} {amount} for {reason}",
        "can you move {amount} into my {account}",
        "wire {amount} to {name}'s account",
        "make a transfer of {amount} to {name} on {date}",
        "how do I send money to {name}",
        "pay back {name} the {amount} I owe",
        "move money from {account} to {account2}",
        "set up a monthly transfer of {amount} to my {relation}",
        "I want to send {name} some money for {reason}",
        "put {amount} into my {account}",
        "transfer funds to account number {digits}",
        "can I send {amount} abroad to {name} in {city}",
        "split the bill for {reason} with {name}, send them {amount}",
        "schedule a payment of {amount} to {name} for {date}",
        "shift {amount} over to my {account} before {date}",
        "send a quick payment of {amount} to my {relation}",
        "i owe {name} {amount}, can you send it",
        "transfer the rent, {amount}, to my landlord",
        "reimburse {name} {amount} from my {account}",
        "I'd like to do a wire transfer to {name}",
        "top up my {account} with {amount}",
        "I'd like to give {name} {amount} for {reason}",
        "is it possible to transfer {amount} to {name} today",
        "send some money to my {relation}",
        "move everything except {amount} from {account} into {account2}",
        "transfer {amount} now",
        "pay {name} back for {reason}",
        "I need {amount} sent to {name} by {date}",
        "pay off my {card} bill from my {account}",
        "I'm covering {name}'s flight, send them {amount}",
        "send {name} {amount} for the pizza we ordered",
        "give my {relation} {amount} out of my balance",
        "{name} lost their card, can I send them {amount} instead",
        "cover {name}'s share of the hotel, move {amount} to them",
        "the {app} app is broken so can you send {amount} to {name} for me",
        "pay the {amount} deposit for the flat to {name}",
        "get {amount} over to {name} before the flight on {date}",
        "{name} needs {amount} for the hotel, send it from my {account}",
        "return the {amount} {name} lent me",
        "use my savings to pay {name} {amount}",
        "my balance is fine, now send {amount} to {name}",
        "top up {name}'s card with {amount}",
        "send my {relation} {amount} so they can pay for the flight",
    ],
    "lost_card": [
        "I lost my {card}",
        "my {card} was stolen",
        "I can't find my {card} anywhere",
        "block my {card}, I think someone took it",
        "freeze my card right now",
        "someone stole my wallet with my {card} in it",
        "I left my {card} at {place} and it's gone",
        "how do I report a lost card",
        "I need a replacement {card}, mine went missing",
        "my card has been missing since {date}",
        "there's a charge of {amount} I didn't make, I think my card was stolen",
        "cancel my {card}, it was lost",
        "I dropped my card somewhere in {city}",
        "lock my card temporarily while I look for it",
        "my card got stolen what do I do",
        "can you send me a new card, I lost the old one",
        "my purse got stolen at {place} with all my cards",
        "I misplaced my {card} yesterday",
        "report my {card} as lost",
        "the atm swallowed my card and didn't give it back",
        "I think I left my card in a taxi in {city}",
        "my card ending in {digits} is lost",
        "urgent: my {card} has been stolen",
        "I can't find my bank card, deactivate it",
        "someone used my card at {place} and I don't have it anymore",
        "I need to order a new card because mine was lost",
        "lost my wallet, stop all my cards",
        "my {relation} lost the card I gave them",
        "where can I report a stolen {card}",
        "I had my card at {place} yesterday but now it's gone",
        "I think my wallet fell out of my bag at {place}",
        "my {card} isn't in my wallet anymore",
        "I can't find my card and I'm flying to {city} on {date}",
        "somebody took my {card} out of my bag at {place}",
        "my card was in the jacket that got stolen",
        "I've lost track of my {card}, it's not where I left it",
        "is there a way to stop someone using my missing card",
        "the card you sent me never arrived, I think it got lost in the post",
        "I think my card got left at {restaurant} last night",
        "my {card} has disappeared, can you lock the account",
        "I can't pay for anything, my {card} is gone",
        "my {card} fell out of my pocket on the way to the airport",
        "my {card} is missing and there's a {amount} charge from {restaurant}",
        "where is my card? it's not in my purse",
        "stop all payments on my stolen {card}",
        "I think someone has my {card}, I don't have it anymore",
        "my {card} is nowhere to be found and I need to pay {name}",
        "I left my wallet with all my cards at the hotel in {city}",
        "my card never came back after I paid at {restaurant}",
        "did I leave my card at {place}? it's not with me",
    ],
    "book_flight": [
        "book a flight from {city} to {city2} on {date}",
        "I need a plane ticket to {city}",
        "find me flights to {city} for {date}",
        "can you get me a one-way ticket to {city}",
        "I want to fly to {city} next {weekday}",
        "book two seats to {city} for {date}",
        "are there any cheap flights from {city} to {city2}",
        "reserve a {cabin} class seat on the {time} flight to {city}",
        "I'd like to book a round trip to {city}, leaving on {date}",
        "get me on a plane to {city} as soon as possible",
        "search for flights under {amount} to {city}",
        "fly me to {city} on {date}",
        "I need to be in {city} by {date}, book a flight",
        "book me a return flight {city} to {city2}",
        "buy a ticket for {name} to {city} on {date}",
        "what flights go to {city} on {weekday} morning",
        "can I book a direct flight to {city}",
        "reserve a window seat on a flight to {city}",
        "looking for a flight to {city} for {n} people",
        "i wanna book a flight to {city}",
        "find the earliest flight out of {city} tomorrow",
        "book my flight home to {city} for the holidays",
        "get me {cabin} class to {city} on {date}",
        "could you arrange air travel to {city} for my business trip",
        "I need a ticket from {city} to {city2} and back",
        "any seats left on flights to {city} this weekend",
        "buy plane tickets for the whole family to {city}",
        "book a red-eye to {city}",
        "help me book airfare to {city}",
        "schedule a flight to {city} departing on {date}",
        "I need to get to {city} for a wedding on {date}",
        "how much is it to fly {cabin} to {city}",
        "my meeting in {city} is on {date}, get me there by plane",
        "can I use my {amount} voucher to book a flight to {city}",
        "what's the cheapest way to fly to {city} this weekend",
        "reserve seats for {n} on the next plane to {city}",
        "I'd like to go to {city} by air on {date}",
        "my trip got cancelled so I need to book a new flight to {city}",
        "get me out of {city} on the first plane {when}",
        "I need a seat on a plane to {city} for {name}",
        "book the {time} to {city}",
        "find a flight that lands in {city} before {time}",
        "I want to rebook the same flight to {city} that I cancelled",
        "check if there are flights to {city} on {date}",
        "order me a plane ticket to {city}",
        "I'm going to {city} on {date}, sort out the plane",
        "what's the fare to {city} on {date}? go ahead and book it",
        "is there room on any plane heading to {city} {when}",
        "reserve me a flight to {city}, I'll pay with my {card}",
        "get me to {city} by plane before my {relation}'s birthday",
    ],
    "cancel_booking": [
        "cancel my {booking}",
        "I need to cancel the {booking} for {date}",
        "cancel my flight to {city}",
        "can I get a refund if I cancel my {booking}",
        "I won't be able to make it, cancel my reservation",
        "drop my {booking} on {date}",
        "cancel the table for {n} at {restaurant}",
        "I'd like to cancel my hotel room in {city}",
        "how do I cancel a booking",
        "undo my reservation for {date}",
        "we're not going anymore, cancel the {booking}",
        "cancel booking reference {code}",
        "get rid of my reservation at {restaurant}",
        "I changed my mind, cancel the trip to {city}",
        "is it too late to cancel my {booking}",
        "remove my {booking} on {date}",
        "call off the {booking} for {name}",
        "cancel everything I booked for {date}",
        "I need to cancel my {booking}, something came up",
        "cancel the appointment I made for {weekday}",
        "my plans fell through, cancel my {booking}",
        "what's the cancellation fee for my {booking}",
        "cancel my stay at the hotel in {city}",
        "I want to cancel my flight booking {code}",
        "I no longer need the {booking}, cancel it",
        "can you cancel the reservation under {name}",
        "pls cancel my {booking}",
        "cancel my booking and refund the {amount}",
        "scrap the {booking} I made yesterday",
        "cancel our {booking} in {city} next {weekday}",
        "I won't be flying to {city} after all, undo the booking",
        "we don't need the table at {restaurant} tonight anymore",
        "take my name off the {booking} for {date}",
        "I'm sick and can't go, drop the {booking}",
        "I don't want the {booking} anymore, can I get my {amount} back",
        "the trip to {city} is off, cancel whatever I reserved",
        "release the room I booked for {date}",
        "I need to back out of the {booking}",
        "my flight to {city} needs to be cancelled, I can't travel",
        "free up the table I booked at {restaurant} for {n}",
        "cancel the {time} appointment, I'll reschedule later",
        "cancel the {booking}, I can't make it on {date}",
        "stop my reservation at {restaurant}, we'll just order in",
        "I can't fly on {date} anymore, cancel it",
        "cancel the {booking} and put the refund in my {account}",
    ],
    "weather": [
        "what's the weather like {when}",
        "is it going to rain in {city} {when}",
        "weather forecast for {city}",
        "do I need an umbrella {when}",
        "how hot will it be {when}",
        "what's the temperature outside",
        "will it snow in {city} this weekend",
        "is it sunny in {city} right now",
        "should I bring a jacket {when}",
        "tell me the forecast for {date}",
        "how cold is it going to get tonight",
        "is there a storm coming to {city}",
        "what will the weather be for my trip to {city} on {date}",
        "what's the chance of rain {when}",
        "how windy is it in {city} today",
        "give me the forecast for {weekday}",
        "is it warm enough for shorts {when}",
        "how's the weather in {city}",
        "any weather warnings for {city}",
        "will it be nice out for a picnic on {weekday}",
        "what's the humidity in {city}",
        "how's the weather looking {when}",
        "is it freezing in {city}",
        "will it clear up by {time}",
        "can I go running {when} or will it rain",
        "check the weather in {city}",
        "what should I wear {when}, is it cold",
        "is the sun out in {city}",
        "what's the high and low for {when}",
        "is it raining at home",
        "is it a good day to hang the laundry outside",
        "will it be cold when I land in {city} on {date}",
        "do I need sunscreen {when}",
        "what's it like outside right now",
        "should I cancel the picnic or will the rain stop",
        "are the roads going to be icy {when}",
        "how many degrees is it in {city}",
        "is it t-shirt weather in {city} {when}",
        "is it going to be nice for the wedding on {date}",
        "how much rain are we getting {when}",
        "is there going to be fog {when}",
        "what's the UV index in {city} today",
        "will there be rain when I arrive in {city}",
        "check if it's going to be sunny {when}",
        "do I need to cancel my run, is it stormy {when}",
        "my flight to {city} is on {date}, what's it going to be like there",
        "I'm about to go for a run, is it going to pour",
        "can I leave the washing out {when}",
        "is it a good idea to cycle to work {when}",
        "what's the outlook for the weekend in {city}",
    ],
    "set_alarm": [
        "set an alarm for {time}",
        "wake me up at {time} {when}",
        "alarm at {time}",
        "set an alarm for {time} on {weekday}",
        "I need to get up at {time} tomorrow",
        "remind me to wake up at {time}",
        "can you set a wake-up alarm for {time}",
        "set my alarm {minutes} minutes earlier",
        "make an alarm for {time} every weekday",
        "change my {time} alarm to {time2}",
        "wake me in {minutes} minutes",
        "set an alarm called {label} for {time}",
        "I have a flight at {time2}, wake me up at {time}",
        "turn on my morning alarm",
        "put an alarm on for {time}",
        "don't let me oversleep, alarm at {time}",
        "create a repeating alarm at {time}",
        "i need an alarm for {time} so i dont miss {event}",
        "set an alarm to go off in {minutes} minutes",
        "alarm for {time} {when}",
        "get me up at {time}",
        "add an alarm at {time} labeled {label}",
        "could you wake me up early tomorrow, like {time}",
        "set alarm {time}",
        "snooze the alarm for {minutes} minutes",
        "set an alarm before sunrise on {weekday}",
        "I want my alarm to go off at {time}",
        "make sure I'm awake by {time} for {event}",
        "new alarm at {time}, weekdays only",
        "set up an alarm for my nap, {minutes} minutes",
        "I can't be late for {event}, make sure something wakes me at {time}",
        "ring at {time} tomorrow",
        "I'll need to get up at {time} to catch my flight to {city}",
        "set something to buzz me at {time}",
        "I want to be up by {time} on {weekday}",
        "my phone should go off at {time} tomorrow to wake me",
        "make sure I don't sleep past {time}",
        "put a wake up call in for {time}",
        "wake me when it's {time}",
        "I have {event} at {time2}, so get me up at {time}",
        "beep at {time} so I remember to get up",
        "I'm going to bed, alarm for {time}",
        "wake me up with {song} at {time}",
        "play an alarm sound at {time}",
        "I ordered food for {time2}, wake me from my nap at {time}",
        "I need to be up early {when}, make it {time}",
        "make a noise at {time} so I don't miss {event}",
        "get my phone to ring at {time} on {weekday}",
        "I'm taking a nap, buzz me in {minutes} minutes",
        "I'll sleep through everything, so set something loud for {time}",
    ],
    "play_music": [
        "play {song} by {artist}",
        "put on some {genre}",
        "play my {playlist} playlist",
        "I want to listen to {artist}",
        "can you play something relaxing",
        "shuffle songs by {artist}",
        "play the latest album from {artist}",
        "play some music for me",
        "play {genre} in the {room}",
        "turn on some music for {activity}",
        "start my {playlist} playlist on shuffle",
        "play that song {song}",
        "i wanna hear some {genre}",
        "put on {artist} in the {room}",
        "play something upbeat for {activity}",
        "could you play {song}",
        "skip to the next song",
        "play the radio station {station}",
        "put on some background music",
        "play songs similar to {song}",
        "I'm in the mood for {genre}, play some",
        "play {artist}'s greatest hits",
        "start playing music from where I left off",
        "blast some {genre}",
        "let's hear {song} again",
        "play a {genre} mix for {activity}",
        "queue up {song} after this one",
        "play music by {artist} on the {room} speaker",
        "can we have some {genre} on while I {activity_verb}",
        "play my liked songs",
        "I'd love to hear some {artist} while I {activity_verb}",
        "turn up the {genre} in the {room}",
        "put the radio on",
        "how about some {genre} for the party on {weekday}",
        "something to help me sleep, maybe {genre}",
        "play the song that goes like la la la",
        "can I hear {song} on my {device}",
        "let's get the party started with {artist}",
        "put on the album {song}",
        "I need something loud to wake me up, play {genre}",
        "play the {playlist} mix on my {device}",
        "some music for a rainy day",
        "play me something nice to wake up to",
        "stream {artist} to my {device}",
        "I'm cooking, can I get some {genre} going",
    ],
    "order_food": [
        "order a {dish} from {restaurant}",
        "I want to get {dish} delivered",
        "can you order dinner for {n} people",
        "get me a large {dish} with extra {topping}",
        "I'm hungry, order some {cuisine} food",
        "order my usual from {restaurant}",
        "place a delivery order for {dish} to my {location}",
        "I'd like {n} portions of {dish} and a {drink}",
        "can I get {cuisine} takeout delivered by {time}",
        "order lunch for the office, {cuisine} please",
        "get food delivered from {restaurant}",
        "buy me a {dish} and a {drink} from {restaurant}",
        "order {dish}, no {topping}",
        "what can I order for under {amount} nearby",
        "reorder what I got last {weekday}",
        "I want to order takeaway from {restaurant}",
        "get me some {cuisine} for dinner tonight",
        "put in an order at {restaurant} for pickup at {time}",
        "add a {drink} to my food order",
        "order breakfast, {dish} please",
        "deliver a {dish} to my {location}",
        "i want {dish} from {restaurant} asap",
        "order {cuisine} food for {n}",
        "can you order a {dish} for me",
        "food delivery for {n} at {time}",
        "get {name} a {dish} for lunch",
        "order me something vegetarian from {restaurant}",
        "i'd love some {dish} right now, can you order it",
        "place an order for {n} {dish} and a {drink}",
        "we need snacks, order some {dish}",
        "I'm starving, get me something to eat",
        "can you get {restaurant} to send a {dish} to my {location}",
        "is {restaurant} still open? I want a {dish}",
        "I haven't eaten all day, order me some {cuisine}",
        "dinner for {n} from {restaurant} to the hotel",
        "feed me, I want {dish}",
        "can you have a {dish} sent to my {location} by {time}",
        "grab me a {drink} and some {dish} from {restaurant}",
        "schedule a {dish} delivery for {time}",
        "send some {cuisine} to my {location}, I'm too tired to cook",
        "can you get me {dish} from {restaurant}, I'll pay up to {amount}",
        "I fancy {cuisine} tonight, sort it out for me",
        "can you book a {dish} delivery to my {location}",
        "find a place that delivers {dish} and order it",
        "I'd like to order {dish} for {n} at {time}, send it to my {location}",
    ],
    "reset_password": [
        "I forgot my password",
        "reset my password",
        "how do I change my password for {service}",
        "I can't log in, I think my password is wrong",
        "send me a password reset link",
        "my account is locked after too many attempts",
        "I need a new password for my {service} account",
        "I forgot my {service} pin",
        "the reset email for {service} never arrived",
        "help me recover my {service} login",
        "I want to change my password",
        "i dont remember my login details for {service}",
        "my password expired, how do I set a new one",
        "I think someone knows my password, I want to change it",
        "unlock my account, I keep entering the wrong password",
        "reset the PIN for my {card}",
        "can't remember the password for {email}",
        "password reset for username {username}",
        "how can I update my password",
        "I got locked out of my {service} account",
        "the password reset code isn't working",
        "help, I can't sign in to {service}",
        "I need to reset my online banking password",
        "forgot the password for the {app} app",
        "set a new password for my account",
        "I typed my password wrong {n} times and now I'm locked out",
        "recover my account, I lost my password",
        "how do I reset my security questions and password",
        "change my {service} password to something stronger",
        "my login isn't accepted anymore, I need a reset",
        "my {service} account won't accept my password anymore",
        "the app keeps saying wrong password on my {device}",
        "I can't get into my {service} account, what's the way back in",
        "I need to make a new password, the old one got leaked",
        "it says my pin is incorrect, how do I get a new one",
        "my account got locked when I tried to check my balance",
        "I need access to my {service} again, I forgot my credentials",
        "can you text me a code to reset my login",
        "I forgot which password I used for {service}",
        "the {app} app won't take my PIN anymore",
        "I can't access my {account}, I forgot my login",
        "how do I get back into my account if I forgot my password",
        "my {card} pin got blocked, I need to set a new one",
        "I can't log in to check my balance, I forgot the password",
        "the app won't let me in because I forgot my password",
    ],
    "track_package": [
        "where is my package",
        "track my order {code}",
        "when will my {item} arrive",
        "has my parcel been shipped yet",
        "what's the status of my delivery from {shop}",
        "my package was supposed to arrive on {date}, where is it",
        "track the {carrier} shipment with number {tracking}",
        "is my {item} out for delivery",
        "I haven't received my order from {shop}",
        "the tracking says delivered but I don't have my {item}",
        "how long until my parcel gets here",
        "can you check on my {shop} order",
        "where's the {item} I ordered last {weekday}",
        "any update on my shipment from {shop}",
        "is the package still in transit",
        "my order {code} hasn't moved in days",
        "what time will the {carrier} driver come",
        "did my {item} ship",
        "find my package from {shop}",
        "expected delivery date for my {item}",
        "my parcel is late, can you look into it",
        "where is the box {name} sent me",
        "has the courier picked up my package",
        "I want to track my package",
        "when is my {shop} delivery coming",
        "is my order stuck at customs",
        "I ordered a {item} on {date} and still nothing",
        "check the tracking for my {item}",
        "what's the eta on my {shop} order",
        "my package says held at the depot, what does that mean",
        "the {item} I bought on {date} still hasn't shown up",
        "was my parcel left with a neighbour",
        "I'm waiting on a delivery from {shop}, is it close",
        "my {item} shows shipped but there have been no updates since {date}",
        "the driver said he delivered it but nothing's at my door",
        "when does {carrier} plan to drop off my {item}",
        "my order from {shop} should have come by now, what's going on",
        "the new card you sent me, has it been dispatched yet",
        "my {shop} order still says processing, when will it ship",
        "the {item} I ordered hasn't come yet",
        "is the delivery from {shop} coming {when}",
        "who has my parcel right now",
        "where's my parcel from {shop}, it's been a week",
        "did the {carrier} driver drop off my {item} at the wrong address",
        "can you check if my {item} order was sent",
    ],
    "tech_support": [
        "my {device} won't turn on",
        "the {app} app keeps crashing when I open it",
        "my {device} is really slow",
        "I can't connect to wifi on my {device}",
        "how do I fix a frozen screen on my {device}",
        "the {app} app won't load",
        "my {device} keeps restarting",
        "I'm getting error {errcode} when I try to {action}",
        "the internet is down at home",
        "bluetooth won't pair with my {device}",
        "my {device} battery drains super fast",
        "help, my {device} screen is black",
        "the printer isn't working",
        "the {app} app logs me out every few minutes",
        "how do I update the software on my {device}",
        "my microphone doesn't work on calls",
        "the website won't load on my {device}",
        "I need help setting up my new {device}",
        "the {app} app is stuck on the loading screen",
        "my {device} is overheating",
        "no sound is coming from my {device}",
        "the touchscreen on my {device} stopped responding",
        "I keep getting a network error when I {action}",
        "something is wrong with my {device}, can someone help",
        "the app says my session expired and won't let me in",
        "my emails aren't syncing on my {device}",
        "notifications stopped working on my {device}",
        "I can't install the {app} update",
        "my {device} won't charge",
        "the camera on my {device} is blurry",
        "my alarm didn't go off this morning, is my {device} broken",
        "the music stops playing every few seconds on my {device}",
        "the weather app shows the wrong city",
        "I tried to send money but the {app} app shows error {errcode}",
        "my {device} won't connect to the speaker",
        "the screen on my {device} cracked and now it flickers",
        "it says no internet connection even though the wifi is on",
        "my {device} is frozen and I can't do anything",
        "my {device} says storage full and won't update",
        "the {app} app shows a blank page",
        "I can't hear anything in my headphones on my {device}",
        "my {device} won't connect to the internet since {date}",
        "my {device} freezes when I try to play music",
        "the {app} app won't let me check my balance, it just crashes",
        "I can't order anything, the {app} app shows error {errcode}",
    ],
}

# --------------------------------------------------------------------------------------------------
# Surface variation: greetings, politeness, casing, punctuation and occasional typos.
# --------------------------------------------------------------------------------------------------
# fmt: off
PREFIXES = [
    "hi, ", "hello, ", "hey, ", "hi there, ", "good morning, ", "excuse me, ", "um, ", "ok so ",
    "sorry to bother you, ", "hey assistant, ", "yo ", "hello there, ", "quick one, ",
]
THANKS = [" thanks", " thank you", " thx", " cheers", " thank you so much", " ty"]
SUFFIXES = [
    " please", ", thanks", " thank you", " thx", ", cheers", " pls", ", thank you so much",
    " if you can", " please and thank you",
]
# Situational lead-ins, shared by all intents; several mention another intent's domain on purpose.
CONTEXTS = [
    "I'm at the airport right now, ", "just got home from work, ", "I'm in a bit of a hurry, ",
    "sorry, my phone is acting up, ", "before I forget, ", "while I wait for my food, ",
    "I'm travelling next week, so ", "it's my birthday tomorrow, ", "my wife asked me to ask, ",
    "I'm on the train, ", "the app was slow so I'm asking here, ", "one more thing, ",
    "I'm stuck at the office, ", "first thing this morning, ", "for the second time today, ",
    "I just checked my email, ",
]
QUESTION_STARTS = (
    "what", "what's", "whats", "how", "how's", "can", "could", "is", "are", "do", "does", "did",
    "will", "should", "has", "have", "am", "any", "when", "where", "where's", "who", "expected",
)
# fmt: on

_FORMATTER = string.Formatter()


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def _fill(template: str, rng: random.Random) -> str:
    values: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for field in _fields(template):
        if field in values:
            continue
        base = field.rstrip("0123456789")
        taken = used.setdefault(base, set())
        choices = [v for v in SLOTS[base] if v not in taken]
        value = rng.choice(choices)
        taken.add(value)
        values[field] = value
        if value[0].lower() in "aeiou":  # "a {drink}" -> "an orange juice"
            template = re.sub(r"\b([Aa]) \{" + field + r"\}", r"\1n {" + field + "}", template)
    return template.format_map(values)


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two neighbouring letters
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
    elif kind == 1:  # drop a letter
        w = w[:j] + w[j + 1 :]
    else:  # double a letter
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def _decorate(body: str, rng: random.Random) -> str:
    # bodies that already contain a "?" ("is X still open? I want a pizza") get no extra mark
    is_question = body.split(" ", 1)[0].lower() in QUESTION_STARTS and "?" not in body
    prefix = rng.choice(PREFIXES) if rng.random() < 0.25 else ""
    if rng.random() < 0.2:
        prefix += rng.choice(CONTEXTS)
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.2 and not body.endswith(("please", "pls")) else ""
    r = rng.random()
    if is_question:
        # the question mark closes the question itself: "can you ...? thanks"
        mark = "?" if r < 0.65 else "??" if r < 0.7 else ""
        if mark and suffix:
            body, suffix, mark = body + mark, rng.choice(THANKS), ""
    else:
        mark = "." if r < 0.35 else "!" if r < 0.45 else ""
    text = prefix + body + suffix + mark
    r = rng.random()
    if r < 0.2:
        text = _typo(text, rng)
        if r < 0.04:
            text = _typo(text, rng)
    r = rng.random()
    if r < 0.65:
        text = text[0].upper() + text[1:]
    elif r < 0.68 and len(text) < 40:
        text = text.upper()
    else:
        text = text.lower()
    return text


def _key(text: str) -> str:
    """Normalised form used to reject near-duplicates (case / punctuation only differences)."""
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def _generate_split(templates: list[str], count: int, rng: random.Random, seen: set[str]) -> list[str]:
    """Round-robin over ``templates`` so phrasings are used evenly; sentences are globally unique."""
    out: list[str] = []
    order = list(templates)
    exhausted: set[int] = set()
    i = 0
    while len(out) < count:
        if len(exhausted) == len(order):
            raise RuntimeError("templates exhausted before reaching the requested count")
        t = i % len(order)
        i += 1
        if t in exhausted:
            continue
        for _ in range(50):
            sentence = _decorate(_fill(order[t], rng), rng)
            n_words = len(sentence.split())
            key = _key(sentence)
            if MIN_WORDS <= n_words <= MAX_WORDS and key not in seen:
                seen.add(key)
                out.append(sentence)
                break
        else:
            exhausted.add(t)
    return out


def build() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    train: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for label, templates in TEMPLATES.items():
        if len(templates) < 25 or len(set(templates)) != len(templates):
            raise ValueError(f"{label}: need >= 25 distinct templates")
        idx = list(range(len(templates)))
        rng.shuffle(idx)
        n_test = round(HELD_OUT_FRACTION * len(templates))
        test_t = [templates[k] for k in sorted(idx[:n_test])]
        train_t = [templates[k] for k in sorted(idx[n_test:])]
        test += [(s, label) for s in _generate_split(test_t, TEST_PER_CLASS, rng, seen)]
        train += [(s, label) for s in _generate_split(train_t, TRAIN_PER_CLASS, rng, seen)]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def to_csv(rows: list[tuple[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--check", action="store_true", help="verify the CSVs instead of writing them")
    args = parser.parse_args(argv)

    train, test = build()
    files = {"train.csv": to_csv(train), "test.csv": to_csv(test)}
    if args.check:
        stale = [
            n
            for n, data in files.items()
            if not (args.out_dir / n).is_file() or (args.out_dir / n).read_bytes() != data
        ]
        if stale:
            print(f"out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        print("demo dataset is up to date")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out_dir / name).write_bytes(data)
        print(f"wrote {args.out_dir / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
