def team(request):
    return {"team": getattr(request, "team", None), "membership": getattr(request, "membership", None)}
