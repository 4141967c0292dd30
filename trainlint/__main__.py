from trainlint.entry import main

main()
