"""Buying through payment, as booking and consultation both do: a checkout's payment
progress (domain), what it tells payment back (events), and the errors a patient meets.
Each context's checkout is one of these plus what it sells: a held slot, a consultation.
"""
