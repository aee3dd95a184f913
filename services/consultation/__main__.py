from services.consultation.bootstrap import main

main()
