"""The payment context's rules in plain Python: money, payment intents and their attempts,
settling by the gateway's truth, refunds, the double-entry ledger, wallets, fees and
doctors' payouts.

Nothing here reads a clock, touches a database or a network: "now" and a new payment's
id come in as arguments (everything a payment begets gets an id derived from it), and the
facts an entity produces wait in its `events` list until the handler writes them to the
outbox in the same commit as the entity.

    money, currency, rounding   amounts in minor units, the currency table, exact shares
    purchase                    what is bought and who is paid (payee lines)
    payment, attempt            the intent, its attempts and its status
    settlement                  moving a payment forward by the gateway's truth
    refund, refunding           giving money back
    ledger, postings            double-entry transactions, and what each fact posts
    fees, payouts               gateway and platform fees, doctors' held payouts
    wallet                      prepaid balances, paying from them, topping them up
    events, errors, ids         facts, broken rules, derived ids
"""
