from services.payment.bootstrap import main

main()
