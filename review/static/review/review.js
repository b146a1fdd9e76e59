// Keyboard shortcuts of the review pages: an element with data-shortcut="j" is clicked when j is
// pressed, one with data-shortcut-focus="r" gets the focus. Kept out of the HTML for the CSP.
(function () {
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var key = event.key;
    var focus = document.querySelector('[data-shortcut-focus="' + key + '"]');
    if (focus instanceof HTMLElement) {
      event.preventDefault();
      focus.focus();
      return;
    }
    var element = document.querySelector('[data-shortcut="' + key + '"]');
    if (element instanceof HTMLElement) {
      event.preventDefault();
      element.click();
    }
  });
})();
