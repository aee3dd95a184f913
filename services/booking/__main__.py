from services.booking.bootstrap import main

main()
