from services.notification.bootstrap import main

main()
